package io.lakehouselab;

import java.lang.reflect.Method;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.TableCatalog;

import scala.Function1;
import scala.Option;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * Environment isolation for the writes that never ask a catalog for write access: Delta's own commands
 * ({@code RESTORE}, {@code OPTIMIZE}, {@code VACUUM}, {@code REORG}, Delta {@code ALTER}s), the {@code DeltaTable}
 * API ({@code delete}/{@code update}/{@code merge} on {@code DeltaTable.forName}), writes by path, and streams
 * writing into an existing table.
 *
 * <p>Registered in {@code spark.sql.extensions}. Its check rule runs on every analysed plan (batch and
 * streaming), finds the table each write command targets — by its session-catalog database {@code <catalog>__<schema>}
 * or its location {@code .../<catalog>__<schema>.db/<table>} — and refuses the write with {@link LabCatalog}'s
 * message unless that catalog is writable from the session's environment.
 */
public class IsolationExtension extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
  private static final Set<String> WRITES = Set.of("RestoreTableCommand", "DeleteCommand", "UpdateCommand",
      "MergeIntoCommand", "WriteIntoDelta", "OptimizeTableCommand", "VacuumTableCommand", "DeltaReorgTableCommand",
      "CloneTableCommand", "ConvertToDeltaCommand", "DeltaGenerateCommand", "SaveIntoDataSourceCommand",
      "WriteToStream", "WriteToStreamStatement");
  private static final Pattern DATABASE = Pattern.compile("^(.+?)" + LabCatalog.SEPARATOR + "(.+)$");
  private static final Pattern LOCATION = Pattern.compile("/([^/]+?)" + LabCatalog.SEPARATOR + "([^/]+)\\.db/([^/]+)");

  @Override public BoxedUnit apply(SparkSessionExtensions extensions) {
    extensions.injectCheckRule(new AbstractFunction1<SparkSession, Function1<LogicalPlan, BoxedUnit>>() {
      @Override public Function1<LogicalPlan, BoxedUnit> apply(SparkSession spark) {
        return new AbstractFunction1<LogicalPlan, BoxedUnit>() {
          @Override public BoxedUnit apply(LogicalPlan plan) {
            check(spark, plan);
            return BoxedUnit.UNIT;
          }
        };
      }
    });
    return BoxedUnit.UNIT;
  }

  static void check(SparkSession spark, LogicalPlan plan) {
    if (spark.conf().get(LabCatalog.WRITABLE_CONF, "").isEmpty()) return;
    Deque<LogicalPlan> todo = new ArrayDeque<>(List.of(plan));
    while (!todo.isEmpty()) {
      LogicalPlan node = todo.pop();
      List<LogicalPlan> children = new ArrayList<>();
      scala.collection.Iterator<LogicalPlan> below = node.children().iterator();
      while (below.hasNext()) children.add(below.next());
      if (isWrite(node)) {
        for (String[] table : targets(node, children)) {
          LabCatalog.checkWritable(spark, table[0], action(node) + " " + String.join(".", table));
        }
      }
      todo.addAll(children);
    }
  }

  private static boolean isWrite(LogicalPlan node) {
    String kind = node.getClass().getSimpleName();
    return WRITES.contains(kind) || (kind.startsWith("AlterTable") && kind.endsWith("DeltaCommand"));
  }

  private static final Map<String, String> ACTIONS = Map.ofEntries(
      Map.entry("RestoreTableCommand", "RESTORE table"), Map.entry("DeleteCommand", "DELETE FROM table"),
      Map.entry("UpdateCommand", "UPDATE table"), Map.entry("MergeIntoCommand", "MERGE INTO table"),
      Map.entry("OptimizeTableCommand", "OPTIMIZE table"), Map.entry("VacuumTableCommand", "VACUUM table"),
      Map.entry("DeltaReorgTableCommand", "REORG table"), Map.entry("CloneTableCommand", "CLONE into table"),
      Map.entry("ConvertToDeltaCommand", "CONVERT TO DELTA table"),
      Map.entry("DeltaGenerateCommand", "GENERATE manifest of table"));

  private static String action(LogicalPlan node) {
    String kind = node.getClass().getSimpleName();
    if (kind.startsWith("WriteToStream")) return "stream into table";
    if (kind.startsWith("AlterTable")) return "alter table";
    return ACTIONS.getOrDefault(kind, "write into table");
  }

  /** {catalog, schema, table} of every lab table the command's own fields (or a resolved child table) name. */
  private static Set<String[]> targets(LogicalPlan node, List<LogicalPlan> children) {
    Set<String> names = new LinkedHashSet<>();
    List<Object> values = new ArrayList<>();
    scala.collection.Iterator<Object> fields = node.productIterator();
    while (fields.hasNext()) values.add(fields.next());
    for (LogicalPlan child : children) {
      if (child.getClass().getSimpleName().equals("ResolvedTable")) values.add(child);
    }
    for (Object value : values) collect(value, names);
    Set<String[]> out = new LinkedHashSet<>();
    for (String name : names) out.add(name.split("\\.", 3));
    return out;
  }

  private static void collect(Object value, Set<String> names) {
    if (value instanceof Option) {
      if (((Option<?>) value).isDefined()) collect(((Option<?>) value).get(), names);
    } else if (value instanceof CatalogTable) {
      collect(((CatalogTable) value).identifier(), names);
    } else if (value instanceof TableIdentifier) {
      TableIdentifier id = (TableIdentifier) value;
      if (id.database().isDefined()) fromDatabase(id.database().get(), id.table(), names);
    } else if (value instanceof scala.collection.Map) {
      @SuppressWarnings("unchecked")
      Option<Object> path = ((scala.collection.Map<Object, Object>) value).get("path");
      if (path.isDefined()) fromLocation(String.valueOf(path.get()), names);
    } else if (value instanceof org.apache.hadoop.fs.Path) {
      fromLocation(value.toString(), names);
    } else if (value != null) {
      String kind = value.getClass().getSimpleName();
      if (kind.equals("ResolvedTable")) {
        Object catalog = call(value, "catalog");
        Object ident = call(value, "identifier");
        if (catalog instanceof LabCatalog && ident instanceof Identifier && ((Identifier) ident).namespace().length == 1) {
          names.add(((TableCatalog) catalog).name() + "." + ((Identifier) ident).namespace()[0] + "." + ((Identifier) ident).name());
        }
        collect(call(value, "table"), names);
      } else if (kind.equals("DeltaTableV2")) {
        collect(call(value, "catalogTable"), names);
        collect(call(value, "path"), names);
      } else if (kind.equals("DeltaLog")) {
        collect(call(value, "dataPath"), names);
      } else if (kind.equals("DeltaSink") || kind.startsWith("Tahoe")) {
        collect(call(value, "path"), names);
      }
    }
  }

  private static void fromDatabase(String database, String table, Set<String> names) {
    Matcher m = DATABASE.matcher(database);
    if (m.matches()) names.add(m.group(1) + "." + m.group(2) + "." + table);
  }

  private static void fromLocation(String location, Set<String> names) {
    Matcher m = LOCATION.matcher(location);
    if (m.find()) names.add(m.group(1) + "." + m.group(2) + "." + m.group(3));
  }

  private static Object call(Object target, String method) {
    try {
      Method m = target.getClass().getMethod(method);
      return m.invoke(target);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }
}
