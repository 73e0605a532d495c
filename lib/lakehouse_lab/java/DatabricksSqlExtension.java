package io.lakehouselab;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.parser.ParameterContext;
import org.apache.spark.sql.catalyst.parser.ParseException;
import org.apache.spark.sql.catalyst.parser.ParserInterface;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;

import scala.collection.immutable.Seq;
import scala.runtime.AbstractFunction1;
import scala.runtime.AbstractFunction2;
import scala.runtime.BoxedUnit;

/**
 * Databricks SQL statements that Apache Spark's parser does not know, rewritten to Spark's own form before they
 * are parsed: {@code USE CATALOG name} becomes {@code SET CATALOG name}, and {@code ALTER STREAMING TABLE t …} and
 * {@code ALTER MATERIALIZED VIEW t …} (a pipeline's tables, e.g. handed to another pipeline by setting
 * {@code pipelines.pipelineId}) become {@code ALTER TABLE t …}: the lab stores both as Delta tables. Also registers
 * Databricks' {@code :}
 * operator on JSON strings ({@link JsonColonOperator}) and the {@code event_log()} table function
 * ({@link EventLogFunction}).
 *
 * <p>Registered in {@code spark.sql.extensions} after Delta's extension, so its parser wraps Delta's; every
 * other statement, expression and parameterised query reaches that parser unchanged.
 */
public class DatabricksSqlExtension extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
  private static final Pattern USE_CATALOG = Pattern.compile("(?is)^\\s*USE\\s+CATALOG\\s+(.+?)[\\s;]*$");
  private static final Pattern ALTER_PIPELINE_TABLE =
      Pattern.compile("(?is)^(\\s*ALTER\\s+)(?:STREAMING\\s+TABLE|MATERIALIZED\\s+VIEW)(\\s+.*)$");

  @Override public BoxedUnit apply(SparkSessionExtensions extensions) {
    extensions.injectParser(new AbstractFunction2<SparkSession, ParserInterface, ParserInterface>() {
      @Override public ParserInterface apply(SparkSession session, ParserInterface parser) {
        return new Parser(parser);
      }
    });
    JsonColonOperator.register(extensions);
    EventLogFunction.register(extensions);
    return BoxedUnit.UNIT;
  }

  /** Spark's form of {@code sql} when it is a Databricks-only statement, else {@code sql} itself. */
  static String rewrite(String sql) {
    Matcher use = USE_CATALOG.matcher(sql);
    if (use.matches()) {
      return "SET CATALOG " + use.group(1);
    }
    Matcher alter = ALTER_PIPELINE_TABLE.matcher(sql);
    return alter.matches() ? alter.group(1) + "TABLE" + alter.group(2) : sql;
  }

  static final class Parser implements ParserInterface {
    private final ParserInterface delegate;

    Parser(ParserInterface delegate) { this.delegate = delegate; }

    @Override public LogicalPlan parsePlan(String sql) throws ParseException {
      return delegate.parsePlan(rewrite(sql));
    }
    @Override public LogicalPlan parsePlanWithParameters(String sql, ParameterContext parameters)
        throws ParseException {
      return delegate.parsePlanWithParameters(rewrite(sql), parameters);
    }
    @Override public LogicalPlan parseQuery(String sql) throws ParseException { return delegate.parseQuery(sql); }
    @Override public Expression parseExpression(String sql) throws ParseException {
      return delegate.parseExpression(sql);
    }
    @Override public TableIdentifier parseTableIdentifier(String sql) throws ParseException {
      return delegate.parseTableIdentifier(sql);
    }
    @Override public FunctionIdentifier parseFunctionIdentifier(String sql) throws ParseException {
      return delegate.parseFunctionIdentifier(sql);
    }
    @Override public Seq<String> parseMultipartIdentifier(String sql) throws ParseException {
      return delegate.parseMultipartIdentifier(sql);
    }
    @Override public StructType parseRoutineParam(String sql) throws ParseException {
      return delegate.parseRoutineParam(sql);
    }
    @Override public StructType parseTableSchema(String sql) throws ParseException {
      return delegate.parseTableSchema(sql);
    }
    @Override public DataType parseDataType(String sql) throws ParseException { return delegate.parseDataType(sql); }
  }
}
