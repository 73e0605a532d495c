package io.lakehouselab;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.NamespaceAlreadyExistsException;
import org.apache.spark.sql.catalyst.analysis.NoSuchFunctionException;
import org.apache.spark.sql.catalyst.analysis.NoSuchNamespaceException;
import org.apache.spark.sql.catalyst.analysis.NoSuchTableException;
import org.apache.spark.sql.catalyst.analysis.NonEmptyNamespaceException;
import org.apache.spark.sql.catalyst.analysis.TableAlreadyExistsException;
import org.apache.spark.sql.connector.catalog.Column;
import org.apache.spark.sql.connector.catalog.FunctionCatalog;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.NamespaceChange;
import org.apache.spark.sql.connector.catalog.StagedTable;
import org.apache.spark.sql.connector.catalog.StagingTableCatalog;
import org.apache.spark.sql.connector.catalog.SupportsNamespaces;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCatalog;
import org.apache.spark.sql.connector.catalog.TableCatalogCapability;
import org.apache.spark.sql.connector.catalog.TableChange;
import org.apache.spark.sql.connector.catalog.TableInfo;
import org.apache.spark.sql.connector.catalog.TableWritePrivilege;
import org.apache.spark.sql.connector.catalog.functions.UnboundFunction;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * A Unity Catalog-style top-level catalog ({@code catalog.schema.table}) for the lab.
 *
 * <p>Each catalog configured as {@code spark.sql.catalog.<name>=io.lakehouselab.LabCatalog} stores its
 * schemas as session-catalog databases named {@code <catalog>__<schema>}, whose folders under the warehouse
 * are shared by every kernel ({@link SharedTables}). Every call is forwarded to the session catalog, which is
 * Delta's {@code DeltaCatalog}: tables are real Delta tables, and CTAS / CREATE OR REPLACE stay atomic through
 * the staging calls.
 *
 * <p>Schemas hold no functions of their own: {@code SHOW FUNCTIONS} and {@code spark.catalog.listFunctions()}
 * list the built-in and temporary functions, as in a Unity Catalog schema without user-defined functions.
 */
public class LabCatalog implements StagingTableCatalog, SupportsNamespaces, FunctionCatalog {
  static final String SEPARATOR = "__";
  private String name;
  private volatile SparkSession session;

  @Override public void initialize(String name, CaseInsensitiveStringMap options) { this.name = name; }
  @Override public String name() { return name; }
  @Override public String[] defaultNamespace() { return new String[] {"default"}; }

  /**
   * The session this catalog belongs to ({@code catalog.bootstrap} binds it). Without it a thread that has no
   * active session would fall back to the JVM's default session, which on a shared driver is another
   * process's, with another environment.
   */
  public void bind(SparkSession session) { this.session = session; }

  private SparkSession spark() {
    SparkSession active = session != null ? session : SparkSession.active();
    // A py4j thread (a job task, a notebook worker) may have no active session; SQLConf.get would then
    // fall back to defaults and hand out Spark's built-in session catalog instead of Delta's.
    SparkSession.setActiveSession(active);
    return active;
  }
  private Object sessionCatalog() { return spark().sessionState().catalogManager().v2SessionCatalog(); }
  private StagingTableCatalog tables() { return (StagingTableCatalog) sessionCatalog(); }
  private SupportsNamespaces namespaces() { return (SupportsNamespaces) sessionCatalog(); }

  private String database(String[] namespace) throws NoSuchNamespaceException {
    if (namespace.length != 1) {
      throw new NoSuchNamespaceException(fullName(namespace));
    }
    return (name + SEPARATOR + namespace[0]).toLowerCase();
  }
  private String[] fullName(String[] namespace) {
    String[] full = new String[namespace.length + 1];
    full[0] = name;
    System.arraycopy(namespace, 0, full, 1, namespace.length);
    return full;
  }
  private Identifier inner(Identifier ident) throws NoSuchTableException {
    try {
      return Identifier.of(new String[] {database(ident.namespace())}, ident.name());
    } catch (NoSuchNamespaceException e) {
      throw new NoSuchTableException(Identifier.of(fullName(ident.namespace()), ident.name()));
    }
  }
  private Identifier innerForCreate(Identifier ident) throws NoSuchNamespaceException {
    String db = database(ident.namespace());
    if (!SharedTables.syncSchema(spark(), db)) {
      throw new NoSuchNamespaceException(fullName(ident.namespace()));
    }
    return Identifier.of(new String[] {db}, ident.name());
  }
  private NoSuchTableException notFound(Identifier ident) {
    return new NoSuchTableException(Identifier.of(fullName(ident.namespace()), ident.name()));
  }

  // ---- environment isolation: a session writes only into its environment's catalog (and system) ----
  static final String WRITABLE_CONF = "spark.lakehouse_lab.writable_catalogs";
  static final String ENV_CONF = "spark.lakehouse_lab.environment";

  /** Raised in Python as {@code pyspark.errors.UnsupportedOperationException} with this message. */
  public static class IsolationException extends UnsupportedOperationException {
    public IsolationException(String message) { super(message); }
  }

  private String qualified(Identifier ident) {
    return name + "." + String.join(".", ident.namespace()) + "." + ident.name();
  }

  /** Refuses a write into this catalog unless the session's environment may write here. */
  private void checkWritable(String action) { checkWritable(spark(), name, action); }

  /** Refuses a write into lab catalog {@code catalog} unless {@code spark}'s environment may write there. */
  static void checkWritable(SparkSession spark, String catalog, String action) {
    String writable = spark.conf().get(WRITABLE_CONF, "");
    if (writable.isEmpty()) return;
    for (String allowed : writable.split(",")) {
      if (allowed.trim().equalsIgnoreCase(catalog)) return;
    }
    String env = spark.conf().get(ENV_CONF, "?");
    throw new IsolationException("[ENVIRONMENT_ISOLATION] This session is for environment '" + env
        + "' and cannot " + action + ": catalog '" + catalog + "' is not writable from it (writable catalogs: "
        + writable + "). Deploy to that environment (lakehouse-lab bundle deploy --target ...) or start a session for it.");
  }

  // ---- tables: the folders on disk decide what exists (SharedTables), Delta's catalog does the work ----
  /** Whether the table is on disk, after registering it in (or forgetting it from) this JVM's catalog. */
  private boolean synced(Identifier ident) {
    try { return SharedTables.syncTable(spark(), database(ident.namespace()), ident.name()); }
    catch (NoSuchNamespaceException e) { return false; }
  }
  /** The inner identifier of a table about to be created, after the schema and any old entry are synced. */
  private Identifier forCreate(Identifier ident) throws NoSuchNamespaceException {
    synced(ident);
    return innerForCreate(ident);
  }
  /** An external table (created with a LOCATION) is remembered next to its schema's folder; a managed one
   * replaces any such entry of the same name. */
  private void rememberLocation(Identifier ident, Map<String, String> properties) {
    String location = properties.get(TableCatalog.PROP_LOCATION);
    try {
      String db = database(ident.namespace());
      if (location == null) SharedTables.forgetExternal(spark(), db, ident.name());
      else SharedTables.recordExternal(spark(), db, ident.name(), location);
    } catch (NoSuchNamespaceException ignored) { }
  }

  @Override public Set<TableCatalogCapability> capabilities() { return tables().capabilities(); }

  @Override public Identifier[] listTables(String[] namespace) throws NoSuchNamespaceException {
    if (!namespaceExists(namespace)) throw new NoSuchNamespaceException(fullName(namespace));
    List<Identifier> out = new ArrayList<>();
    for (String table : SharedTables.listTables(spark(), database(namespace))) out.add(Identifier.of(namespace, table));
    return out.toArray(new Identifier[0]);
  }

  @Override public Table loadTable(Identifier ident) throws NoSuchTableException {
    flushLineageBeforeRead(ident);
    if (!synced(ident)) throw notFound(ident);
    try { return tables().loadTable(inner(ident)); } catch (NoSuchTableException e) { throw notFound(ident); }
  }
  @Override public Table loadTable(Identifier ident, Set<TableWritePrivilege> privileges) throws NoSuchTableException {
    if (!privileges.isEmpty()) checkWritable(privileges + " on table " + qualified(ident));
    if (!synced(ident)) throw notFound(ident);
    try { return tables().loadTable(inner(ident), privileges); } catch (NoSuchTableException e) { throw notFound(ident); }
  }
  @Override public Table loadTable(Identifier ident, String version) throws NoSuchTableException {
    flushLineageBeforeRead(ident);
    if (!synced(ident)) throw notFound(ident);
    try { return tables().loadTable(inner(ident), version); } catch (NoSuchTableException e) { throw notFound(ident); }
  }
  @Override public Table loadTable(Identifier ident, long timestamp) throws NoSuchTableException {
    flushLineageBeforeRead(ident);
    if (!synced(ident)) throw notFound(ident);
    try { return tables().loadTable(inner(ident), timestamp); } catch (NoSuchTableException e) { throw notFound(ident); }
  }
  /** A read of {@code system.access.*_lineage} first stores the lineage captured so far (LineageListener). */
  private void flushLineageBeforeRead(Identifier ident) {
    if ("system".equalsIgnoreCase(name) && ident.namespace().length == 1
        && "access".equalsIgnoreCase(ident.namespace()[0]) && ident.name().toLowerCase().endsWith("_lineage")) {
      LineageListener.flushBeforeRead(spark());
    }
  }
  @Override public void invalidateTable(Identifier ident) {
    try { tables().invalidateTable(inner(ident)); } catch (NoSuchTableException ignored) { }
  }
  @Override public boolean tableExists(Identifier ident) { return synced(ident); }
  @Override public Table createTable(Identifier ident, Column[] columns, Transform[] partitions,
      Map<String, String> properties) throws TableAlreadyExistsException, NoSuchNamespaceException {
    checkWritable("create table " + qualified(ident));
    Table created = tables().createTable(forCreate(ident), columns, partitions, properties);
    rememberLocation(ident, properties);
    return created;
  }
  @Override public Table createTable(Identifier ident, TableInfo info)
      throws TableAlreadyExistsException, NoSuchNamespaceException {
    checkWritable("create table " + qualified(ident));
    Table created = tables().createTable(forCreate(ident), info);
    rememberLocation(ident, info.properties());
    return created;
  }
  @Override public boolean useNullableQuerySchema() { return tables().useNullableQuerySchema(); }
  @Override public Table alterTable(Identifier ident, TableChange... changes) throws NoSuchTableException {
    checkWritable("alter table " + qualified(ident));
    if (!synced(ident)) throw notFound(ident);
    return tables().alterTable(inner(ident), changes);
  }
  @Override public boolean dropTable(Identifier ident) { return drop(ident, false); }
  @Override public boolean purgeTable(Identifier ident) { return drop(ident, true); }
  /** DROP (or PURGE) a table: a managed table's folder goes with it, an external table keeps its data. */
  private boolean drop(Identifier ident, boolean purge) {
    checkWritable((purge ? "purge" : "drop") + " table " + qualified(ident));
    if (!synced(ident)) return false;
    try {
      boolean dropped = purge ? tables().purgeTable(inner(ident)) : tables().dropTable(inner(ident));
      SharedTables.forgetExternal(spark(), database(ident.namespace()), ident.name());
      return dropped;
    } catch (NoSuchTableException | NoSuchNamespaceException e) { return false; }
  }
  @Override public void renameTable(Identifier from, Identifier to)
      throws NoSuchTableException, TableAlreadyExistsException {
    checkWritable("rename table " + qualified(from));
    if (!synced(from)) throw notFound(from);
    to = withoutThisCatalog(to);
    synced(to);
    try {
      String location = SharedTables.externalLocation(spark(), database(from.namespace()), from.name());
      tables().renameTable(inner(from), inner(to));  // a managed table's folder moves with it
      if (location != null) {
        SharedTables.forgetExternal(spark(), database(from.namespace()), from.name());
        SharedTables.recordExternal(spark(), database(to.namespace()), to.name(), location);
      }
    } catch (NoSuchNamespaceException e) { throw notFound(to); }
  }

  // ---- atomic CTAS / RTAS through Delta's staging ----
  @Override public StagedTable stageCreate(Identifier ident, Column[] columns, Transform[] partitions,
      Map<String, String> properties) throws TableAlreadyExistsException, NoSuchNamespaceException {
    checkWritable("create table " + qualified(ident));
    StagedTable staged = tables().stageCreate(forCreate(ident), columns, partitions, properties);
    rememberLocation(ident, properties);
    return staged;
  }
  @Override public StagedTable stageCreate(Identifier ident, TableInfo info)
      throws TableAlreadyExistsException, NoSuchNamespaceException {
    checkWritable("create table " + qualified(ident));
    StagedTable staged = tables().stageCreate(forCreate(ident), info);
    rememberLocation(ident, info.properties());
    return staged;
  }
  @Override public StagedTable stageReplace(Identifier ident, Column[] columns, Transform[] partitions,
      Map<String, String> properties) throws NoSuchNamespaceException, NoSuchTableException {
    checkWritable("replace table " + qualified(ident));
    return tables().stageReplace(forCreate(ident), columns, partitions, properties);
  }
  @Override public StagedTable stageReplace(Identifier ident, TableInfo info)
      throws NoSuchNamespaceException, NoSuchTableException {
    checkWritable("replace table " + qualified(ident));
    return tables().stageReplace(forCreate(ident), info);
  }
  @Override public StagedTable stageCreateOrReplace(Identifier ident, Column[] columns, Transform[] partitions,
      Map<String, String> properties) throws NoSuchNamespaceException {
    checkWritable("create or replace table " + qualified(ident));
    StagedTable staged = tables().stageCreateOrReplace(forCreate(ident), columns, partitions, properties);
    rememberLocation(ident, properties);
    return staged;
  }
  @Override public StagedTable stageCreateOrReplace(Identifier ident, TableInfo info) throws NoSuchNamespaceException {
    checkWritable("create or replace table " + qualified(ident));
    StagedTable staged = tables().stageCreateOrReplace(forCreate(ident), info);
    rememberLocation(ident, info.properties());
    return staged;
  }

  /**
   * {@code RENAME TO dev_catalog.s.t2} reaches the catalog as namespace {@code [dev_catalog, s]} on Spark 4.1
   * (SPARK-56611); the catalog's own name is dropped, as Databricks reads the fully qualified form.
   */
  private Identifier withoutThisCatalog(Identifier ident) {
    String[] ns = ident.namespace();
    if (ns.length == 2 && ns[0].equalsIgnoreCase(name)) return Identifier.of(new String[] {ns[1]}, ident.name());
    return ident;
  }

  // ---- schemas (namespaces): one folder each ----
  @Override public String[][] listNamespaces() throws NoSuchNamespaceException {
    List<String[]> out = new ArrayList<>();
    for (String schema : SharedTables.listSchemas(spark(), (name + SEPARATOR).toLowerCase())) {
      out.add(new String[] {schema});
    }
    return out.toArray(new String[0][]);
  }
  @Override public String[][] listNamespaces(String[] namespace) throws NoSuchNamespaceException {
    if (namespace.length == 0) return listNamespaces();
    if (!namespaceExists(namespace)) throw new NoSuchNamespaceException(fullName(namespace));
    return new String[0][];
  }
  @Override public boolean namespaceExists(String[] namespace) {
    try { return SharedTables.syncSchema(spark(), database(namespace)); }
    catch (NoSuchNamespaceException e) { return false; }
  }
  @Override public Map<String, String> loadNamespaceMetadata(String[] namespace) throws NoSuchNamespaceException {
    if (!namespaceExists(namespace)) throw new NoSuchNamespaceException(fullName(namespace));
    return namespaces().loadNamespaceMetadata(new String[] {database(namespace)});
  }
  @Override public void createNamespace(String[] namespace, Map<String, String> metadata)
      throws NamespaceAlreadyExistsException {
    checkWritable("create schema " + name + "." + String.join(".", namespace));
    if (namespaceExists(namespace)) throw new NamespaceAlreadyExistsException(fullName(namespace));
    try {
      String db = database(namespace);
      namespaces().createNamespace(new String[] {db}, metadata);  // the folder <warehouse>/<db>.db
      SharedTables.saveSchemaMetadata(spark(), db, metadata);
    }
    catch (NoSuchNamespaceException e) { throw new IllegalArgumentException("Schema names have one part: " + Arrays.toString(namespace)); }
  }
  @Override public void alterNamespace(String[] namespace, NamespaceChange... changes) throws NoSuchNamespaceException {
    checkWritable("alter schema " + name + "." + String.join(".", namespace));
    if (!namespaceExists(namespace)) throw new NoSuchNamespaceException(fullName(namespace));
    String db = database(namespace);
    namespaces().alterNamespace(new String[] {db}, changes);
    SharedTables.saveSchemaMetadata(spark(), db, namespaces().loadNamespaceMetadata(new String[] {db}));
  }
  @Override public boolean dropNamespace(String[] namespace, boolean cascade)
      throws NoSuchNamespaceException, NonEmptyNamespaceException {
    checkWritable("drop schema " + name + "." + String.join(".", namespace));
    if (!namespaceExists(namespace)) throw new NoSuchNamespaceException(fullName(namespace));
    String db = database(namespace);
    if (!cascade && !SharedTables.listTables(spark(), db).isEmpty()) throw new NonEmptyNamespaceException(fullName(namespace));
    for (String table : SharedTables.listTables(spark(), db)) SharedTables.syncTable(spark(), db, table);
    return namespaces().dropNamespace(new String[] {db}, cascade);  // removes the folder with its tables
  }

  // ---- functions: none are stored in a schema ----
  @Override public Identifier[] listFunctions(String[] namespace) throws NoSuchNamespaceException {
    if (namespace.length > 0 && !namespaceExists(namespace)) {
      throw new NoSuchNamespaceException(fullName(namespace));
    }
    return new Identifier[0];
  }
  @Override public UnboundFunction loadFunction(Identifier ident) throws NoSuchFunctionException {
    throw new NoSuchFunctionException(ident);
  }
}
