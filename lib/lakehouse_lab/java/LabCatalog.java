package io.lakehouselab;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.NamespaceAlreadyExistsException;
import org.apache.spark.sql.catalyst.analysis.NoSuchNamespaceException;
import org.apache.spark.sql.catalyst.analysis.NoSuchTableException;
import org.apache.spark.sql.catalyst.analysis.NonEmptyNamespaceException;
import org.apache.spark.sql.catalyst.analysis.TableAlreadyExistsException;
import org.apache.spark.sql.connector.catalog.Column;
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
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * A Unity Catalog-style top-level catalog ({@code catalog.schema.table}) for the lab.
 *
 * <p>Each catalog configured as {@code spark.sql.catalog.<name>=io.lakehouselab.LabCatalog} stores its
 * schemas in the session catalog's metastore (Hive, on the lab's Derby network server, so every kernel sees
 * the same tables) as databases named {@code <catalog>__<schema>}. Every call is forwarded to the session
 * catalog, which is Delta's {@code DeltaCatalog}: tables are real Delta tables, and CTAS / CREATE OR REPLACE
 * stay atomic through the staging calls.
 */
public class LabCatalog implements StagingTableCatalog, SupportsNamespaces {
  static final String SEPARATOR = "__";
  private String name;

  @Override public void initialize(String name, CaseInsensitiveStringMap options) { this.name = name; }
  @Override public String name() { return name; }
  @Override public String[] defaultNamespace() { return new String[] {"default"}; }

  private Object sessionCatalog() {
    SparkSession session = SparkSession.active();
    // A py4j thread (a job task, a notebook worker) may have no active session; SQLConf.get would then
    // fall back to defaults and hand out Spark's built-in session catalog instead of Delta's.
    SparkSession.setActiveSession(session);
    return session.sessionState().catalogManager().v2SessionCatalog();
  }
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
    if (!namespaces().namespaceExists(new String[] {db})) {
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
  private void checkWritable(String action) { checkWritable(SparkSession.active(), name, action); }

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

  // ---- tables ----
  @Override public Set<TableCatalogCapability> capabilities() { return tables().capabilities(); }

  @Override public Identifier[] listTables(String[] namespace) throws NoSuchNamespaceException {
    if (!namespaceExists(namespace)) throw new NoSuchNamespaceException(fullName(namespace));
    List<Identifier> out = new ArrayList<>();
    for (Identifier id : tables().listTables(new String[] {database(namespace)})) {
      out.add(Identifier.of(namespace, id.name()));
    }
    return out.toArray(new Identifier[0]);
  }

  @Override public Table loadTable(Identifier ident) throws NoSuchTableException {
    try { return tables().loadTable(inner(ident)); } catch (NoSuchTableException e) { throw notFound(ident); }
  }
  @Override public Table loadTable(Identifier ident, Set<TableWritePrivilege> privileges) throws NoSuchTableException {
    if (!privileges.isEmpty()) checkWritable(privileges + " on table " + qualified(ident));
    try { return tables().loadTable(inner(ident), privileges); } catch (NoSuchTableException e) { throw notFound(ident); }
  }
  @Override public Table loadTable(Identifier ident, String version) throws NoSuchTableException {
    try { return tables().loadTable(inner(ident), version); } catch (NoSuchTableException e) { throw notFound(ident); }
  }
  @Override public Table loadTable(Identifier ident, long timestamp) throws NoSuchTableException {
    try { return tables().loadTable(inner(ident), timestamp); } catch (NoSuchTableException e) { throw notFound(ident); }
  }
  @Override public void invalidateTable(Identifier ident) {
    try { tables().invalidateTable(inner(ident)); } catch (NoSuchTableException ignored) { }
  }
  @Override public boolean tableExists(Identifier ident) {
    try { return tables().tableExists(inner(ident)); } catch (NoSuchTableException e) { return false; }
  }
  @Override public Table createTable(Identifier ident, Column[] columns, Transform[] partitions,
      Map<String, String> properties) throws TableAlreadyExistsException, NoSuchNamespaceException {
    checkWritable("create table " + qualified(ident));
    return tables().createTable(innerForCreate(ident), columns, partitions, properties);
  }
  @Override public Table createTable(Identifier ident, TableInfo info)
      throws TableAlreadyExistsException, NoSuchNamespaceException {
    checkWritable("create table " + qualified(ident));
    return tables().createTable(innerForCreate(ident), info);
  }
  @Override public boolean useNullableQuerySchema() { return tables().useNullableQuerySchema(); }
  @Override public Table alterTable(Identifier ident, TableChange... changes) throws NoSuchTableException {
    checkWritable("alter table " + qualified(ident));
    return tables().alterTable(inner(ident), changes);
  }
  @Override public boolean dropTable(Identifier ident) {
    checkWritable("drop table " + qualified(ident));
    try { return tables().dropTable(inner(ident)); } catch (NoSuchTableException e) { return false; }
  }
  @Override public boolean purgeTable(Identifier ident) {
    checkWritable("purge table " + qualified(ident));
    try { return tables().purgeTable(inner(ident)); } catch (NoSuchTableException e) { return false; }
  }
  @Override public void renameTable(Identifier from, Identifier to)
      throws NoSuchTableException, TableAlreadyExistsException {
    checkWritable("rename table " + qualified(from));
    tables().renameTable(inner(from), inner(to));
  }

  // ---- atomic CTAS / RTAS through Delta's staging ----
  @Override public StagedTable stageCreate(Identifier ident, Column[] columns, Transform[] partitions,
      Map<String, String> properties) throws TableAlreadyExistsException, NoSuchNamespaceException {
    checkWritable("create table " + qualified(ident));
    return tables().stageCreate(innerForCreate(ident), columns, partitions, properties);
  }
  @Override public StagedTable stageCreate(Identifier ident, TableInfo info)
      throws TableAlreadyExistsException, NoSuchNamespaceException {
    checkWritable("create table " + qualified(ident));
    return tables().stageCreate(innerForCreate(ident), info);
  }
  @Override public StagedTable stageReplace(Identifier ident, Column[] columns, Transform[] partitions,
      Map<String, String> properties) throws NoSuchNamespaceException, NoSuchTableException {
    checkWritable("replace table " + qualified(ident));
    return tables().stageReplace(innerForCreate(ident), columns, partitions, properties);
  }
  @Override public StagedTable stageReplace(Identifier ident, TableInfo info)
      throws NoSuchNamespaceException, NoSuchTableException {
    checkWritable("replace table " + qualified(ident));
    return tables().stageReplace(innerForCreate(ident), info);
  }
  @Override public StagedTable stageCreateOrReplace(Identifier ident, Column[] columns, Transform[] partitions,
      Map<String, String> properties) throws NoSuchNamespaceException {
    checkWritable("create or replace table " + qualified(ident));
    return tables().stageCreateOrReplace(innerForCreate(ident), columns, partitions, properties);
  }
  @Override public StagedTable stageCreateOrReplace(Identifier ident, TableInfo info) throws NoSuchNamespaceException {
    checkWritable("create or replace table " + qualified(ident));
    return tables().stageCreateOrReplace(innerForCreate(ident), info);
  }

  // ---- schemas (namespaces) ----
  @Override public String[][] listNamespaces() throws NoSuchNamespaceException {
    String prefix = (name + SEPARATOR).toLowerCase();
    List<String[]> out = new ArrayList<>();
    for (String[] ns : namespaces().listNamespaces()) {
      if (ns.length == 1 && ns[0].startsWith(prefix)) out.add(new String[] {ns[0].substring(prefix.length())});
    }
    return out.toArray(new String[0][]);
  }
  @Override public String[][] listNamespaces(String[] namespace) throws NoSuchNamespaceException {
    if (namespace.length == 0) return listNamespaces();
    if (!namespaceExists(namespace)) throw new NoSuchNamespaceException(fullName(namespace));
    return new String[0][];
  }
  @Override public boolean namespaceExists(String[] namespace) {
    try { return namespaces().namespaceExists(new String[] {database(namespace)}); }
    catch (NoSuchNamespaceException e) { return false; }
  }
  @Override public Map<String, String> loadNamespaceMetadata(String[] namespace) throws NoSuchNamespaceException {
    try { return namespaces().loadNamespaceMetadata(new String[] {database(namespace)}); }
    catch (NoSuchNamespaceException e) { throw new NoSuchNamespaceException(fullName(namespace)); }
  }
  @Override public void createNamespace(String[] namespace, Map<String, String> metadata)
      throws NamespaceAlreadyExistsException {
    checkWritable("create schema " + name + "." + String.join(".", namespace));
    try { namespaces().createNamespace(new String[] {database(namespace)}, metadata); }
    catch (NoSuchNamespaceException e) { throw new IllegalArgumentException("Schema names have one part: " + Arrays.toString(namespace)); }
  }
  @Override public void alterNamespace(String[] namespace, NamespaceChange... changes) throws NoSuchNamespaceException {
    checkWritable("alter schema " + name + "." + String.join(".", namespace));
    namespaces().alterNamespace(new String[] {database(namespace)}, changes);
  }
  @Override public boolean dropNamespace(String[] namespace, boolean cascade)
      throws NoSuchNamespaceException, NonEmptyNamespaceException {
    checkWritable("drop schema " + name + "." + String.join(".", namespace));
    return namespaces().dropNamespace(new String[] {database(namespace)}, cascade);
  }
}
