package io.lakehouselab;

import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.analysis.UnresolvedRelation;
import org.apache.spark.sql.catalyst.analysis.UnresolvedRelation$;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import org.apache.spark.sql.catalyst.expressions.FunctionTableSubqueryArgumentExpression;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.SubqueryAlias;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

import scala.Tuple3;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * Databricks' {@code event_log()} table function: {@code SELECT * FROM event_log('<pipeline id or name>')} or
 * {@code event_log(TABLE(catalog.schema.table))} reads the event log of the pipeline (its latest update that
 * published the table), that is the Delta table {@code <catalog>.<schema>.event_log_<pipeline name>}.
 *
 * <p>Which pipeline that is comes from {@code system.lakeflow.pipeline_updates} (and, for a table, the
 * datasets named in {@code system.lakeflow.pipeline_events}), written by every update.
 */
final class EventLogFunction {
  static final String NAME = "event_log";
  private static final String BY_PIPELINE = "SELECT catalog, schema, pipeline_name "
      + "FROM system.lakeflow.pipeline_updates WHERE pipeline_id = :key OR pipeline_name = :key "
      + "ORDER BY start_time DESC LIMIT 1";
  private static final String BY_TABLE = "SELECT u.catalog, u.schema, u.pipeline_name "
      + "FROM system.lakeflow.pipeline_updates u JOIN (SELECT DISTINCT update_id FROM system.lakeflow.pipeline_events "
      + "WHERE lower(dataset_name) = lower(:table)) e ON u.update_id = e.update_id "
      + "WHERE lower(u.catalog) = lower(:catalog) AND lower(u.schema) = lower(:schema) "
      + "ORDER BY u.start_time DESC LIMIT 1";

  private EventLogFunction() {}

  static void register(SparkSessionExtensions extensions) {
    ExpressionInfo info = new ExpressionInfo(EventLogFunction.class.getName(), null, NAME,
        "event_log('<pipeline id or name>') | event_log(TABLE(catalog.schema.table)) - the pipeline's event log",
        "", "", "", "", "", "", "");
    extensions.injectTableFunction(new Tuple3<>(FunctionIdentifier.apply(NAME), info,
        new AbstractFunction1<Seq<Expression>, LogicalPlan>() {
          @Override public LogicalPlan apply(Seq<Expression> arguments) { return build(arguments); }
        }));
  }

  static LogicalPlan build(Seq<Expression> arguments) {
    if (arguments.size() != 1) {
      throw new IllegalArgumentException("event_log() takes one argument: a pipeline id or name "
          + "(event_log('orders_pipeline')), or a table it publishes (event_log(TABLE(dev_catalog.analytics.t)))");
    }
    SparkSession spark = SparkSession.active();
    Expression argument = arguments.apply(0);
    Row[] found;
    String asked;
    if (argument instanceof FunctionTableSubqueryArgumentExpression) {
      List<String> table = qualified(spark, tableName(((FunctionTableSubqueryArgumentExpression) argument).plan()));
      asked = "table " + String.join(".", table);
      found = lookup(spark, BY_TABLE, Map.of("catalog", table.get(0), "schema", table.get(1), "table", table.get(2)));
    } else {
      Object key = argument.foldable() ? argument.eval(null) : null;
      if (key == null) {
        throw new IllegalArgumentException("event_log() needs a pipeline id or name as a string literal, got "
            + argument.sql());
      }
      asked = "pipeline '" + key + "'";
      found = lookup(spark, BY_PIPELINE, Map.of("key", key.toString()));
    }
    if (found.length == 0) {
      throw new IllegalArgumentException("[EVENT_LOG_NOT_FOUND] No update of a " + asked + " is recorded in "
          + "system.lakeflow.pipeline_updates: run the pipeline first (lakehouse-lab pipeline run PATH).");
    }
    Row row = found[0];
    // named as pipelines/event_log.py's event_log_table() names it
    String table = "event_log_" + row.getString(2).replaceAll("(?U)\\W+", "_").toLowerCase(Locale.ROOT);
    return UnresolvedRelation$.MODULE$.apply(CollectionConverters.asScala(
        List.of(row.getString(0), row.getString(1), table)).toSeq(), CaseInsensitiveStringMap.empty(), false);
  }

  private static Row[] lookup(SparkSession spark, String query, Map<String, Object> parameters) {
    if (!spark.catalog().tableExists("system.lakeflow.pipeline_updates")) {
      return new Row[0];
    }
    return (Row[]) spark.sql(query, parameters).collect();
  }

  /** The name parts of the table in a {@code TABLE(...)} argument, resolved or not. */
  private static List<String> tableName(LogicalPlan plan) {
    if (plan instanceof UnresolvedRelation) {
      return CollectionConverters.asJava(((UnresolvedRelation) plan).multipartIdentifier());
    }
    if (plan instanceof SubqueryAlias) {
      SubqueryAlias alias = (SubqueryAlias) plan;
      List<String> parts = new java.util.ArrayList<>(CollectionConverters.asJava(alias.identifier().qualifier()));
      parts.add(alias.identifier().name());
      return parts;
    }
    if (plan.children().size() == 1) {
      return tableName(plan.children().apply(0));
    }
    throw new IllegalArgumentException("event_log(TABLE(...)) needs a table name, got " + plan.nodeName());
  }

  /** {@code parts} as catalog, schema, table: a shorter name is completed from the current catalog and schema. */
  private static List<String> qualified(SparkSession spark, List<String> parts) {
    int n = parts.size();
    String schema = n >= 2 ? parts.get(n - 2) : spark.catalog().currentDatabase();
    String catalog = n >= 3 ? parts.get(n - 3) : spark.catalog().currentCatalog();
    return List.of(catalog, schema, parts.get(n - 1));
  }
}
