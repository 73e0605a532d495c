package io.lakehouselab;

import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.analysis.UnresolvedFunction$;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import org.apache.spark.sql.catalyst.expressions.GetJsonObject;
import org.apache.spark.sql.catalyst.expressions.Literal$;
import org.apache.spark.sql.catalyst.expressions.SemiStructuredExtract;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.rules.Rule;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.VariantType;

import scala.Function1;
import scala.Tuple3;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;
import scala.runtime.AbstractPartialFunction;

/**
 * Databricks' {@code :} operator on JSON strings: {@code details:flow_progress.metrics.num_output_rows} returns
 * the field as a string, as {@code get_json_object(details, '$.flow_progress.metrics.num_output_rows')} does.
 *
 * <p>Spark's parser already reads {@code column:path}, but its analyser accepts it only on {@code VARIANT}
 * columns. An early rule (run with the hint rules, before columns are resolved) turns each such extraction
 * into a call of {@value #FUNCTION}, whose builder sees the resolved column: a string gets
 * {@code get_json_object}, a {@code VARIANT} gets Spark's own extraction back. Field names match exactly, where
 * Databricks also matches them ignoring case.
 */
final class JsonColonOperator {
  static final String FUNCTION = "lab_json_colon";

  private JsonColonOperator() {}

  static void register(SparkSessionExtensions extensions) {
    extensions.injectHintResolutionRule(new AbstractFunction1<SparkSession, Rule<LogicalPlan>>() {
      @Override public Rule<LogicalPlan> apply(SparkSession session) { return new ToFunctionCall(); }
    });
    Function1<Seq<Expression>, Expression> builder = new AbstractFunction1<Seq<Expression>, Expression>() {
      @Override public Expression apply(Seq<Expression> arguments) {
        return build(arguments.apply(0), arguments.apply(1));
      }
    };
    ExpressionInfo info = new ExpressionInfo(JsonColonOperator.class.getName(), null, FUNCTION,
        "json:path - the field at `path` of the JSON string `json`, as a string (Databricks' : operator)",
        "", "", "", "", "", "", "");
    extensions.injectFunction(new Tuple3<>(FunctionIdentifier.apply(FUNCTION), info, builder));
  }

  /** {@code json:path} on a resolved column: {@code get_json_object} for strings, Spark's own for VARIANT. */
  static Expression build(Expression json, Expression path) {
    DataType type = json.dataType();
    if (type instanceof StringType) {
      return new GetJsonObject(json, path);
    }
    if (type instanceof VariantType) {
      return new SemiStructuredExtract(json, path.eval(null).toString());
    }
    java.util.Map<String, String> parameters = java.util.Map.of(
        "sqlExpr", "`" + json.sql() + ":" + path.eval(null) + "`", "paramIndex", "first",
        "requiredType", "\"STRING\" (JSON) or \"VARIANT\"", "inputSql", "`" + json.sql() + "`",
        "inputType", "\"" + type.sql() + "\"");
    throw unchecked(new AnalysisException("DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE",
        scala.collection.immutable.Map.from(CollectionConverters.asScala(parameters))));
  }

  /** Throws {@code error} (a checked AnalysisException) from a Scala function, as Scala code would. */
  @SuppressWarnings("unchecked")
  private static <E extends Throwable> RuntimeException unchecked(Throwable error) throws E {
    throw (E) error;
  }

  /** Replaces every {@code column:path} of a plan not yet resolved by a call of {@value #FUNCTION}. */
  static final class ToFunctionCall extends Rule<LogicalPlan> {
    @Override public LogicalPlan apply(LogicalPlan plan) {
      return (LogicalPlan) plan.transformAllExpressionsWithSubqueries(
          new AbstractPartialFunction<Expression, Expression>() {
            @Override public boolean isDefinedAt(Expression e) { return e instanceof SemiStructuredExtract; }

            @Override public <A1 extends Expression, B1> B1 applyOrElse(A1 e, Function1<A1, B1> otherwise) {
              if (!(e instanceof SemiStructuredExtract)) {
                return otherwise.apply(e);
              }
              SemiStructuredExtract extract = (SemiStructuredExtract) e;
              Seq<Expression> arguments = CollectionConverters.asScala(
                  java.util.List.of(extract.child(), Literal$.MODULE$.apply(extract.field()))).toSeq();
              @SuppressWarnings("unchecked")
              B1 call = (B1) UnresolvedFunction$.MODULE$.apply(FUNCTION, arguments, false);
              return call;
            }
          });
    }
  }
}
