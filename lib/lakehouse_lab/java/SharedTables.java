package io.lakehouselab;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.catalog.CatalogDatabase;
import org.apache.spark.sql.catalyst.catalog.CatalogStorageFormat;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.catalog.CatalogTable$;
import org.apache.spark.sql.catalyst.catalog.CatalogTableType;
import org.apache.spark.sql.catalyst.catalog.SessionCatalog;
import org.apache.spark.sql.types.StructType;

import scala.Option;

/**
 * The lab's tables live in folders, and the folders are the catalog: every kernel reads them.
 *
 * <p>Schema {@code <catalog>.<schema>} is the folder {@code <warehouse>/<catalog>__<schema>.db} (its comment
 * and properties in {@code _schema.properties} there); a managed table is a Delta table in a sub-folder named
 * after it; an external table (created with a {@code LOCATION}) is a file {@code _external/<table>} there
 * holding its location URI. Each JVM's session catalog is Spark's in-memory one: before a
 * {@link LabCatalog} call uses a schema or table, {@link #syncTable} registers it there when another kernel
 * created it, and forgets it when another kernel dropped it. No metastore and no server are needed. The two
 * sync methods are synchronized: threads of one JVM (job tasks, parallel writes) never sync the same entry twice.
 */
final class SharedTables {
  static final String SCHEMA_FILE = "_schema.properties";
  static final String EXTERNAL_DIR = "_external";

  private SharedTables() { }

  static SessionCatalog sessionCatalog(SparkSession spark) { return spark.sessionState().catalog(); }

  static File warehouse(SparkSession spark) {
    return new File(new org.apache.hadoop.fs.Path(spark.conf().get("spark.sql.warehouse.dir")).toUri().getPath());
  }

  static File schemaDir(SparkSession spark, String db) { return new File(warehouse(spark), db + ".db"); }

  /** A folder holds a Delta table once its log has a commit or a checkpoint (an empty log is not a table). */
  static boolean isDeltaTable(File dir) {
    String[] names = new File(dir, "_delta_log").list();
    if (names == null) return false;
    for (String n : names) {
      if (!n.isEmpty() && Character.isDigit(n.charAt(0)) && (n.endsWith(".json") || n.contains(".checkpoint"))) return true;
    }
    return false;
  }

  // ---- schemas ----

  /** Whether schema folder {@code db} exists; registers it in this JVM (or forgets it) to match. */
  static synchronized boolean syncSchema(SparkSession spark, String db) {
    SessionCatalog catalog = sessionCatalog(spark);
    File dir = schemaDir(spark, db);
    boolean known = catalog.databaseExists(db);
    if (!dir.isDirectory()) {
      if (known) catalog.dropDatabase(db, true, true);  // dropped by another kernel: nothing left to delete
      return false;
    }
    if (!known) {
      Properties meta = read(new File(dir, SCHEMA_FILE));
      String comment = meta.getProperty("comment", "");
      Map<String, String> props = new HashMap<>();
      for (String key : meta.stringPropertyNames()) {
        if (!key.equals("comment") && !key.equals("location")) props.put(key, meta.getProperty(key));
      }
      catalog.createDatabase(new CatalogDatabase(db, comment, dir.toURI(), scalaMap(props)), true);
    }
    return true;
  }

  /** Keeps a schema's comment and properties with its folder, for the other kernels and the next start. */
  static void saveSchemaMetadata(SparkSession spark, String db, Map<String, String> metadata) {
    Properties meta = new Properties();
    for (Map.Entry<String, String> e : metadata.entrySet()) {
      if (e.getValue() != null && !e.getKey().equals("location")) meta.setProperty(e.getKey(), e.getValue());
    }
    java.io.StringWriter text = new java.io.StringWriter();
    try { meta.store(text, null); } catch (IOException e) { throw new IllegalStateException(e); }
    write(new File(schemaDir(spark, db), SCHEMA_FILE), text.toString());
  }

  /** Schema folders named {@code <prefix>*.db}, without the prefix and suffix. */
  static List<String> listSchemas(SparkSession spark, String prefix) {
    List<String> out = new ArrayList<>();
    String[] names = warehouse(spark).list();
    if (names == null) return out;
    for (String n : names) {
      if (n.startsWith(prefix) && n.endsWith(".db") && new File(warehouse(spark), n).isDirectory()) {
        out.add(n.substring(prefix.length(), n.length() - 3));
      }
    }
    return out;
  }

  // ---- tables ----

  /** Where table {@code name} of schema {@code db} is on disk: its external location, else its folder. */
  static File tableDir(SparkSession spark, String db, String name) {
    String external = externalLocation(spark, db, name);
    return external != null ? new File(URI.create(external)) : new File(schemaDir(spark, db), name.toLowerCase());
  }

  /** Whether table {@code db.name} exists on disk; registers it in this JVM (or forgets it) to match. An entry
   * at another location (another kernel re-created the table elsewhere) is registered again. */
  static synchronized boolean syncTable(SparkSession spark, String db, String name) {
    if (!syncSchema(spark, db)) return false;
    SessionCatalog catalog = sessionCatalog(spark);
    TableIdentifier id = new TableIdentifier(name.toLowerCase(), Option.apply(db));
    File dir = tableDir(spark, db, name);
    boolean onDisk = isDeltaTable(dir);
    CatalogTable known = known(catalog, id);
    if (known != null && !(onDisk && new File(known.location()).getAbsoluteFile().equals(dir.getAbsoluteFile()))) {
      forget(catalog, known);
      known = null;
    }
    if (onDisk && known == null) {
      boolean external = !dir.equals(new File(schemaDir(spark, db), name.toLowerCase()));  // not its own folder
      catalog.createTable(registration(id, external ? CatalogTableType.EXTERNAL() : CatalogTableType.MANAGED(),
          dir.toURI()), true, false);
    }
    return onDisk;
  }

  private static CatalogTable known(SessionCatalog catalog, TableIdentifier id) {
    try { return catalog.tableExists(id) ? catalog.getTableMetadata(id) : null; }
    catch (org.apache.spark.sql.AnalysisException gone) { return null; }
  }

  /** Delta tables in schema {@code db}: managed folders and external entries. */
  static List<String> listTables(SparkSession spark, String db) {
    List<String> out = new ArrayList<>();
    File dir = schemaDir(spark, db);
    File[] children = dir.listFiles(File::isDirectory);
    if (children != null) {
      for (File child : children) if (isDeltaTable(child)) out.add(child.getName());
    }
    String[] externals = new File(dir, EXTERNAL_DIR).list();
    if (externals != null) {
      for (String name : externals) {
        if (!name.startsWith(".") && isDeltaTable(tableDir(spark, db, name))) out.add(name);
      }
    }
    return out;
  }

  private static File externalFile(SparkSession spark, String db, String name) {
    return new File(new File(schemaDir(spark, db), EXTERNAL_DIR), name.toLowerCase());
  }

  static void recordExternal(SparkSession spark, String db, String name, String location) {
    URI uri = location.contains(":") ? URI.create(location) : new File(location).toURI();
    File file = externalFile(spark, db, name);
    file.getParentFile().mkdirs();
    write(file, uri.toString());
  }

  static void forgetExternal(SparkSession spark, String db, String name) { externalFile(spark, db, name).delete(); }

  static String externalLocation(SparkSession spark, String db, String name) {
    File file = externalFile(spark, db, name);
    try { return file.isFile() ? Files.readString(file.toPath()).trim() : null; }
    catch (IOException e) { throw new IllegalStateException("Cannot read " + file + ": " + e.getMessage(), e); }
  }

  /** A Delta table found on disk, as the session catalog keeps Delta tables (the schema lives in the log). */
  private static CatalogTable registration(TableIdentifier id, CatalogTableType type, URI location) {
    CatalogTable$ d = CatalogTable$.MODULE$;
    CatalogStorageFormat storage = new CatalogStorageFormat(Option.apply(location), Option.empty(), Option.empty(),
        Option.empty(), false, scalaMap(Map.of()));
    return new CatalogTable(id, type, storage, new StructType(), Option.apply("delta"), d.$lessinit$greater$default$6(),
        d.$lessinit$greater$default$7(), d.$lessinit$greater$default$8(), d.$lessinit$greater$default$9(),
        d.$lessinit$greater$default$10(), d.$lessinit$greater$default$11(), d.$lessinit$greater$default$12(),
        d.$lessinit$greater$default$13(), d.$lessinit$greater$default$14(), d.$lessinit$greater$default$15(),
        d.$lessinit$greater$default$16(), d.$lessinit$greater$default$17(), d.$lessinit$greater$default$18(),
        d.$lessinit$greater$default$19(), d.$lessinit$greater$default$20(), d.$lessinit$greater$default$21());
  }

  /** Removes a table another kernel dropped from this JVM's catalog without touching any file (a managed
   * entry would otherwise delete its folder, which that kernel may be re-creating). */
  private static void forget(SessionCatalog catalog, CatalogTable t) {
    CatalogTable external = new CatalogTable(t.identifier(), CatalogTableType.EXTERNAL(), t.storage(), t.schema(),
        t.provider(), t.partitionColumnNames(), t.bucketSpec(), t.owner(), t.createTime(), t.lastAccessTime(),
        t.createVersion(), t.properties(), t.stats(), t.viewText(), t.comment(), t.collation(),
        t.unsupportedFeatures(), t.tracksPartitionsInCatalog(), t.schemaPreservesCase(), t.ignoredProperties(),
        t.viewOriginalText());
    catalog.externalCatalog().alterTable(external);
    catalog.dropTable(t.identifier(), true, false);
  }

  // ---- small files ----

  private static Properties read(File file) {
    Properties p = new Properties();
    if (file.isFile()) {
      try (InputStream in = Files.newInputStream(file.toPath())) { p.load(in); }
      catch (IOException e) { throw new IllegalStateException("Cannot read " + file + ": " + e.getMessage(), e); }
    }
    return p;
  }

  /** Written to a temporary file and renamed, so another kernel never reads half a file. */
  private static void write(File file, String text) {
    File tmp = new File(file.getParentFile(), "." + file.getName() + "." + ProcessHandle.current().pid() + ".tmp");
    try {
      Files.writeString(tmp.toPath(), text);
      Files.move(tmp.toPath(), file.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new IllegalStateException("Cannot write " + file + ": " + e.getMessage(), e);
    }
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  static scala.collection.immutable.Map<String, String> scalaMap(Map<String, String> map) {
    return (scala.collection.immutable.Map) scala.collection.immutable.Map$.MODULE$.from(
        scala.jdk.javaapi.CollectionConverters.asScala(map));
  }
}
