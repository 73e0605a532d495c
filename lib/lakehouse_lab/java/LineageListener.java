package io.lakehouselab;

import java.sql.Date;
import java.sql.Timestamp;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.NamedRelation;
import org.apache.spark.sql.catalyst.analysis.ResolvedIdentifier;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.expressions.Alias;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ScalarSubquery;
import org.apache.spark.sql.catalyst.expressions.SubqueryExpression;
import org.apache.spark.sql.catalyst.plans.logical.CTERelationDef;
import org.apache.spark.sql.catalyst.plans.logical.CTERelationRef;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.DeltaMergeAction;
import org.apache.spark.sql.catalyst.plans.logical.Expand;
import org.apache.spark.sql.catalyst.plans.logical.Generate;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.SubqueryAlias;
import org.apache.spark.sql.catalyst.plans.logical.Union;
import org.apache.spark.sql.catalyst.plans.logical.V2CreateTableAsSelectPlan;
import org.apache.spark.sql.catalyst.plans.logical.V2WriteCommand;
import org.apache.spark.sql.catalyst.plans.logical.View;
import org.apache.spark.sql.connector.catalog.CatalogPlugin;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.delta.commands.MergeIntoCommand;
import org.apache.spark.sql.execution.QueryExecution;
import org.apache.spark.sql.execution.command.DataWritingCommand;
import org.apache.spark.sql.execution.datasources.HadoopFsRelation;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.execution.datasources.SaveIntoDataSourceCommand;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;
import org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd;
import org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart;
import org.apache.spark.sql.streaming.StreamingQueryListener;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import scala.Option;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Unity Catalog-style lineage captured from the plans Spark actually executed.
 *
 * <p>Registered once per session by {@code lakehouse_lab.lineage.install(spark)}. On every successful root
 * SQL execution it walks the analysed plan of the {@code QueryExecution} (SQL, DataFrame writes, CTAS,
 * MERGE): source tables and paths, the target table, and per target column the source columns it derives
 * from (through expression ids). Entity ids come from the Spark local properties
 * {@code lakehouse_lab.entity_*} the executing thread carried into its jobs. Rows are buffered in memory
 * and written to {@code system.access.table_lineage} / {@code column_lineage} by {@link #flush}; nothing
 * here ever throws into the user's query: errors become warnings that the Python side logs once.
 */
public class LineageListener extends SparkListener {
  public static final String TABLE_LINEAGE = "system.access.table_lineage";
  public static final String COLUMN_LINEAGE = "system.access.column_lineage";
  static final String PREFIX = "lakehouse_lab.";
  /** Local property (after {@code PREFIX}) set to "true" around writes whose lineage the caller records. */
  static final String SKIP = "lineage.skip";
  static final String[] ENTITY_KEYS = {"entity_type", "entity_id", "entity_run_id", "created_by"};

  private static volatile LineageListener installed;
  private static final ConcurrentLinkedQueue<Object[]> tableRows = new ConcurrentLinkedQueue<>();
  private static final ConcurrentLinkedQueue<Object[]> columnRows = new ConcurrentLinkedQueue<>();
  private static final ConcurrentLinkedQueue<String> messages = new ConcurrentLinkedQueue<>();
  private static final Set<String> reported = ConcurrentHashMap.newKeySet();

  private final SparkSession spark;
  private final Map<String, String> defaults = new ConcurrentHashMap<>();
  private final Set<SparkSession> watched = Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));
  private final Map<Long, Long> rootOf = new ConcurrentHashMap<>();
  private final Map<Long, Map<String, String>> entityOf = new ConcurrentHashMap<>();
  /** Running foreachBatch streams: query id → the source lineage of the stream's output columns. */
  private final Map<String, PlanWalker.Result> streams = new ConcurrentHashMap<>();
  private volatile boolean enabled = true;

  private LineageListener(SparkSession spark) { this.spark = spark; }

  /**
   * Register the listener on {@code spark}'s context (one per context: it sees every session's queries) and
   * watch {@code spark}'s streams (each session has its own); idempotent. Returns the listener.
   */
  public static synchronized LineageListener install(SparkSession spark) {
    if (installed == null || installed.spark.sparkContext() != spark.sparkContext()) {
      installed = new LineageListener(spark);
      spark.sparkContext().addSparkListener(installed);
    }
    if (installed.watched.add(spark)) spark.streams().addListener(installed.new Streams(spark));
    return installed;
  }

  public static LineageListener get() { return installed; }

  /** The entity used when the executing thread set no {@code lakehouse_lab.*} properties. */
  public void setDefault(String key, String value) {
    if (value == null) defaults.remove(key); else defaults.put(key, value);
  }

  public void setEnabled(boolean on) { enabled = on; }
  public boolean isEnabled() { return enabled; }

  // ---------------------------------------------------------------- listener events
  @Override public void onJobStart(SparkListenerJobStart job) {
    try {
      Properties props = job.properties();
      boolean skip = props != null && "true".equals(props.getProperty(PREFIX + SKIP));
      if (props == null || (props.getProperty(PREFIX + "entity_type") == null
          && props.getProperty("sql.streaming.queryId") == null && !skip)) return;
      String exec = props.getProperty("spark.sql.execution.root.id", props.getProperty("spark.sql.execution.id"));
      if (exec == null) return;
      Map<String, String> entity = new HashMap<>();
      for (String key : ENTITY_KEYS) {
        String value = props.getProperty(PREFIX + key);
        if (value != null) entity.put(key, value);
      }
      String stream = props.getProperty("sql.streaming.queryId");
      if (stream != null) entity.put("_stream", stream);
      if (skip) entity.put("_skip", "true");
      entityOf.putIfAbsent(Long.parseLong(exec), entity);
    } catch (Throwable t) {
      warn("lineage: could not read the job's entity properties: " + t);
    }
  }

  @Override public void onOtherEvent(SparkListenerEvent event) {
    try {
      if (event instanceof SparkListenerSQLExecutionStart start) {
        Option<Object> root = start.rootExecutionId();
        rootOf.put(start.executionId(), root.isDefined() ? (Long) root.get() : start.executionId());
      } else if (event instanceof SparkListenerSQLExecutionEnd end) {
        onExecutionEnd(end);
      }
    } catch (Throwable t) {
      warn("lineage: capture failed, the query itself was not affected: " + t);
    }
  }

  private void onExecutionEnd(SparkListenerSQLExecutionEnd end) {
    long id = end.executionId();
    Long root = rootOf.remove(id);
    Map<String, String> entity = entityOf.remove(id);
    QueryExecution qe = end.qe();
    if (!enabled || qe == null || end.executionFailure().isDefined() || (root != null && root != id)) return;
    if (qe.getClass().getSimpleName().equals("IncrementalExecution")) return;  // stream batches: captured at start
    if (entity != null && entity.containsKey("_skip")) return;  // an engine-internal write, recorded by its caller
    record(qe.analyzed(), null, entity);
  }

  /** Stream starts: the source plan and the sink table of the running query. */
  final class Streams extends StreamingQueryListener {
    private final SparkSession session;
    Streams(SparkSession session) { this.session = session; }

    @Override public void onQueryStarted(StreamingQueryListener.QueryStartedEvent event) {
      try {
        if (!enabled) return;
        Object wrapper = session.streams().get(event.id());
        if (wrapper == null) return;
        Object execution = wrapper.getClass().getMethod("streamingQuery").invoke(wrapper);
        LogicalPlan plan = (LogicalPlan) execution.getClass().getMethod("logicalPlan").invoke(execution);
        PlanWalker.Result started = PlanWalker.lineage(plan, null, null);
        if (started.target == null) streams.put(event.id().toString(), started);  // foreachBatch: see onExecutionEnd
        else record(plan, null, threadEntity());
      } catch (Throwable t) {
        warn("lineage: could not read the started stream's plan: " + t);
      }
    }
    @Override public void onQueryProgress(StreamingQueryListener.QueryProgressEvent event) { }
    @Override public void onQueryTerminated(StreamingQueryListener.QueryTerminatedEvent event) { }
  }

  private Map<String, String> threadEntity() {
    Map<String, String> entity = new HashMap<>();
    for (String key : ENTITY_KEYS) {
      String value = spark.sparkContext().getLocalProperty(PREFIX + key);
      if (value != null) entity.put(key, value);
    }
    return entity.isEmpty() ? null : entity;
  }

  // ---------------------------------------------------------------- recording
  /**
   * Record the lineage of {@code plan}; {@code target} (a three-level name) overrides the plan's own
   * target, which is how a stream started outside Spark's knowledge (foreachBatch) is recorded.
   * Returns the number of table-level rows added.
   */
  public int record(LogicalPlan plan, String target, Map<String, String> entity) {
    PlanWalker.Result stream = entity == null || entity.get("_stream") == null ? null : streams.get(entity.get("_stream"));
    PlanWalker.Result result = PlanWalker.lineage(plan, target, stream);
    if (result.target != null && result.target.isSystem()) return 0;
    for (PlanWalker.Source s : result.sources.values()) if (s.isSystem()) return 0;
    if (result.target == null && result.sources.values().stream().noneMatch(s -> s.name != null)) return 0;
    if (result.target != null && result.sources.isEmpty()) return 0;
    for (String node : result.unknownNodes) {
      if (reported.add(node)) {
        messages.add("lineage: plan node " + node + " is not understood by the lineage walker; the table-level "
            + "edges are recorded, column lineage through it is approximate (every input column)");
      }
    }
    Map<String, String> who = new HashMap<>(defaults);
    if (entity != null) who.putAll(entity);
    who.remove("_stream");
    long now = System.currentTimeMillis();
    Timestamp time = new Timestamp(now);
    Date date = Date.valueOf(LocalDate.ofInstant(time.toInstant(), ZoneOffset.UTC));
    for (PlanWalker.Source s : result.sources.values()) {
      tableRows.add(row(who, s, null, result.target, null, time, date, false));
    }
    if (result.target != null) {
      for (Map.Entry<String, Set<PlanWalker.ColumnSource>> e : result.columns.entrySet()) {
        for (PlanWalker.ColumnSource cs : e.getValue()) {
          columnRows.add(row(who, cs.source, cs.column, result.target, e.getKey(), time, date, true));
        }
      }
    }
    return result.sources.size();
  }

  private static Object[] row(Map<String, String> who, PlanWalker.Source src, String srcCol,
      PlanWalker.Source tgt, String tgtCol, Timestamp time, Date date, boolean columns) {
    List<Object> r = new ArrayList<>(List.of("lakehouse-lab", "lakehouse-lab-metastore", "local"));
    r.add(who.getOrDefault("entity_type", "NOTEBOOK"));
    r.add(who.get("entity_id"));
    r.add(who.get("entity_run_id"));
    addEnd(r, src);
    if (columns) r.add(srcCol);
    addEnd(r, tgt);
    if (columns) r.add(tgtCol);
    r.add(who.getOrDefault("created_by", "unknown"));
    r.add(time);
    r.add(date);
    return r.toArray();
  }

  private static void addEnd(List<Object> r, PlanWalker.Source s) {
    if (s == null) { r.addAll(Collections.nCopies(6, null)); return; }
    r.add(s.name);
    r.add(s.part(0));
    r.add(s.part(1));
    r.add(s.part(2));
    r.add(s.path);
    r.add(s.type);
  }

  static void warn(String message) {
    String key = message.length() > 120 ? message.substring(0, 120) : message;
    if (reported.add(key)) messages.add(message);
  }

  /** Record a stream's source plan against {@code target}; the entity comes from the caller (Python). */
  public int recordStream(LogicalPlan plan, String target, String entityType, String entityId, String runId,
      String createdBy) {
    Map<String, String> entity = new HashMap<>();
    entity.put("entity_type", entityType);
    if (entityId != null) entity.put("entity_id", entityId);
    if (runId != null) entity.put("entity_run_id", runId);
    if (createdBy != null) entity.put("created_by", createdBy);
    return record(plan, target, entity);
  }

  /** Warnings gathered since the last call (each distinct problem once per process). */
  public static String drainMessages() {
    StringBuilder out = new StringBuilder();
    for (String m = messages.poll(); m != null; m = messages.poll()) out.append(m).append('\n');
    return out.toString();
  }

  /** Rows waiting to be written: {table rows, of which writes, column rows}. */
  public static long[] pending() {
    long writes = tableRows.stream().filter(r -> r[12] != null).count();
    return new long[] {tableRows.size(), writes, columnRows.size()};
  }

  // ---------------------------------------------------------------- flushing
  private static final Object FLUSH_LOCK = new Object();
  /** True on the threads of a running flush: their own reads of the lineage tables must not flush again. */
  private static final ThreadLocal<Boolean> flushing = ThreadLocal.withInitial(() -> Boolean.FALSE);

  /**
   * Wait for the listener bus to deliver queued events, then append buffered rows; returns rows written.
   * The two tables are appended side by side (a small Delta commit is mostly the driver's work); the second
   * thread inherits this one's Spark local properties. One flush at a time: a second caller waits, then
   * finds the rows stored.
   */
  public static long flush(SparkSession spark) throws Exception {
    synchronized (FLUSH_LOCK) {
      boolean outer = !flushing.get();
      flushing.set(Boolean.TRUE);
      try {
        return flushNow(spark);
      } finally {
        if (outer) flushing.set(Boolean.FALSE);
      }
    }
  }

  /**
   * Called by the lab catalog before it loads a lineage table to read it, so every reader sees every captured
   * row: a plain {@code spark.sql} in the cell that wrote, another kernel or task on the same driver. Not on
   * a flush's own threads, nor on the listener bus (the flush waits for it).
   */
  public static void flushBeforeRead(SparkSession spark) {
    if (installed == null || flushing.get() || Thread.currentThread().getName().startsWith("spark-listener-group")) {
      return;
    }
    try {
      spark.sparkContext().listenerBus().waitUntilEmpty();
      if (!tableRows.isEmpty() || !columnRows.isEmpty()) flush(spark);
    } catch (Exception e) {
      warn("lineage: captured rows could not be stored before a read of the lineage tables: " + e);
    }
  }

  private static long flushNow(SparkSession spark) throws Exception {
    spark.sparkContext().listenerBus().waitUntilEmpty();
    java.util.concurrent.FutureTask<Long> columns = new java.util.concurrent.FutureTask<>(() -> {
      flushing.set(Boolean.TRUE);
      return write(spark, columnRows, COLUMN_LINEAGE, schema(true));
    });
    new Thread(columns, "lineage-flush-columns").start();
    long tables = 0;
    Exception failure = null;
    try {
      tables = write(spark, tableRows, TABLE_LINEAGE, schema(false));
    } catch (Exception e) {
      failure = e;
    }
    try {
      long written = tables + columns.get();
      if (failure == null) return written;
    } catch (java.util.concurrent.ExecutionException e) {
      if (failure == null) failure = e.getCause() instanceof Exception cause ? cause : e;
    }
    throw failure;
  }

  /** Drop buffered rows without writing them (used when capture is switched off for a measurement). */
  public static void discard() { tableRows.clear(); columnRows.clear(); }

  private static long write(SparkSession spark, ConcurrentLinkedQueue<Object[]> queue, String table, StructType schema) {
    Map<List<Object>, Row> unique = new LinkedHashMap<>();
    for (Object[] r = queue.poll(); r != null; r = queue.poll()) {
      List<Object> key = new ArrayList<>(java.util.Arrays.asList(r).subList(0, r.length - 2));
      unique.putIfAbsent(key, RowFactory.create(r));
    }
    if (unique.isEmpty()) return 0;
    spark.createDataFrame(new ArrayList<>(unique.values()), schema).write().mode("append").saveAsTable(table);
    return unique.size();
  }

  /** The Databricks column layout of {@code table_lineage} (or {@code column_lineage} when {@code columns}). */
  public static StructType schema(boolean columns) {
    List<StructField> f = new ArrayList<>();
    for (String n : new String[] {"account_id", "metastore_id", "workspace_id", "entity_type", "entity_id",
        "entity_run_id"}) f.add(DataTypes.createStructField(n, DataTypes.StringType, true));
    for (String end : new String[] {"source", "target"}) {
      for (String n : new String[] {"table_full_name", "table_catalog", "table_schema", "table_name", "path", "type"}) {
        f.add(DataTypes.createStructField(end + "_" + n, DataTypes.StringType, true));
      }
      if (columns) f.add(DataTypes.createStructField(end + "_column_name", DataTypes.StringType, true));
    }
    f.add(DataTypes.createStructField("created_by", DataTypes.StringType, true));
    f.add(DataTypes.createStructField("event_time", DataTypes.TimestampType, true));
    f.add(DataTypes.createStructField("event_date", DataTypes.DateType, true));
    return DataTypes.createStructType(f);
  }
}

/** Walks one analysed plan: sources, target, and column provenance by expression id. */
final class PlanWalker {
  static final Set<String> KNOWN = Set.of("Project", "Filter", "Join", "Aggregate", "Window", "Sort",
      "GlobalLimit", "LocalLimit", "Limit", "Offset", "Tail", "Distinct", "Deduplicate", "DeduplicateWithinWatermark",
      "SubqueryAlias", "Union", "Intersect", "Except", "Repartition", "RepartitionByExpression",
      "RebalancePartitions", "Sample", "Generate", "Expand", "CollectMetrics", "EventTimeWatermark",
      "ResolvedHint", "WithCTE", "CTERelationDef", "CTERelationRef", "View", "LocalRelation", "OneRowRelation",
      "Range", "LogicalRDD", "Pivot", "Unpivot", "WithWatermark", "UnionLoop", "UnionLoopRef",
      "ResolvedIdentifier", "ResolvedTable",
      // typed Dataset operations run user lambdas: every output may depend on every input, as recorded
      "DeserializeToObject", "SerializeFromObject", "MapElements", "MapPartitions", "TypedFilter",
      "AppendColumns", "AppendColumnsWithObject", "ExternalRDD", "MapGroups", "CoGroup");

  static final class Source {
    final String name;   // catalog.schema.table, or null for a path
    final String path;
    final String type;   // TABLE, VIEW, PATH
    Source(String name, String path, String type) { this.name = name; this.path = path; this.type = type; }
    String key() { return name != null ? name : "path:" + path; }
    String part(int i) { return name == null ? null : name.split("\\.", 3)[i]; }
    boolean isSystem() { return name != null && name.startsWith("system."); }
  }

  static final class ColumnSource {
    final Source source; final String column;
    ColumnSource(Source source, String column) { this.source = source; this.column = column; }
    @Override public boolean equals(Object o) {
      return o instanceof ColumnSource c && c.source.key().equals(source.key()) && c.column.equals(column);
    }
    @Override public int hashCode() { return source.key().hashCode() * 31 + column.hashCode(); }
  }

  static final class Result {
    final Map<String, Source> sources = new LinkedHashMap<>();
    Source target;
    final Map<String, Set<ColumnSource>> columns = new LinkedHashMap<>();
    final Set<String> unknownNodes = new LinkedHashSet<>();
    Map<String, Set<ColumnSource>> outputs = Map.of();
  }

  private final Result result = new Result();
  private final Map<Long, Set<ColumnSource>> cols = new HashMap<>();
  private final Map<Long, LogicalPlan> ctes = new HashMap<>();

  /** Output column → sources of the stream feeding a foreachBatch (its batches arrive as a LogicalRDD). */
  private Result stream;

  static Result lineage(LogicalPlan root, String target, Result stream) {
    PlanWalker w = new PlanWalker();
    w.stream = stream;
    w.root(root, target);
    if (root != null && w.result.target == null && stream == null) w.result.outputs = w.outputColumns(root);
    return w.result;
  }

  private Map<String, Set<ColumnSource>> outputColumns(LogicalPlan root) {
    LogicalPlan query = root.children().isEmpty() ? root : root.children().head();
    Map<String, Set<ColumnSource>> out = new LinkedHashMap<>();
    for (Attribute a : attrs(query.output())) out.put(a.name(), sources(a));
    return out;
  }

  // ---- the statement: which table it writes, and from which query
  private void root(LogicalPlan p, String forcedTarget) {
    LogicalPlan query = null;
    List<String> targetColumns = null;
    String node = p.getClass().getSimpleName();
    if (p instanceof V2WriteCommand w) {
      result.target = relation((LogicalPlan) w.table());
      query = w.query();
      targetColumns = names(((LogicalPlan) w.table()).output());
    } else if (p instanceof V2CreateTableAsSelectPlan c) {
      if (c.name() instanceof ResolvedIdentifier id) result.target = table(id.catalog(), id.identifier());
      query = c.query();
    } else if (p instanceof MergeIntoCommand m) {
      merge(m);
      return;
    } else if (p instanceof DataWritingCommand d) {
      result.target = catalogTableField(p);
      query = d.query();
      targetColumns = seq(d.outputColumnNames());
    } else if (p instanceof SaveIntoDataSourceCommand s && s.options().get("path").isDefined()) {
      // df.write.save(path): recorded against the path (target_path), as Databricks does, not a table name
      result.target = path(s.options().get("path").get());
      query = s.query();
    } else if (node.startsWith("WriteToMicroBatchDataSource") || node.equals("WriteToStream")) {
      result.target = catalogTableField(p);
      query = p.children().head();
    } else if (forcedTarget != null || !(p instanceof Command)) {
      query = p;
    } else {
      unknownCommand(p);
      return;
    }
    if (forcedTarget != null) result.target = named(forcedTarget, "TABLE");
    walk(query);
    if (result.target == null) return;
    dropSelf();
    List<Attribute> out = attrs(query.output());
    for (int i = 0; i < out.size(); i++) {
      String column = targetColumns != null && i < targetColumns.size() ? targetColumns.get(i) : out.get(i).name();
      Set<ColumnSource> from = new LinkedHashSet<>(sources(out.get(i)));
      from.removeIf(c -> c.source.key().equals(result.target.key()));
      result.columns.put(column, from);
    }
  }

  private void merge(MergeIntoCommand m) {
    result.target = m.catalogTable().isDefined() ? catalogTable(m.catalogTable().get()) : null;
    walk(m.source());
    walk(m.target());
    for (Object clause : seq(m.matchedClauses())) collectMergeActions((Expression) clause);
    for (Object clause : seq(m.notMatchedClauses())) collectMergeActions((Expression) clause);
    for (Object clause : seq(m.notMatchedBySourceClauses())) collectMergeActions((Expression) clause);
    dropSelf();
  }

  private void collectMergeActions(Expression e) {
    if (e instanceof DeltaMergeAction a) {
      String column = String.join(".", seq(a.targetColNameParts()));
      result.columns.computeIfAbsent(column, k -> new LinkedHashSet<>()).addAll(exprSources(a.expr()));
      return;
    }
    for (Expression child : seq(e.children())) collectMergeActions(child);
  }

  /** A write command the walker has no rule for: table-level edges from every plan it holds. */
  private void unknownCommand(LogicalPlan p) {
    Source target = catalogTableField(p);
    scala.collection.Iterator<Object> it = p.productIterator();
    while (it.hasNext()) {
      Object field = it.next();
      if (field instanceof LogicalPlan plan) walk(plan);
      if (field instanceof Option<?> o && o.isDefined() && o.get() instanceof LogicalPlan plan) walk(plan);
    }
    for (LogicalPlan child : seq(p.children())) walk(child);
    for (Expression e : seq(p.expressions())) exprSources(e);
    if (target == null) { result.sources.clear(); result.unknownNodes.clear(); return; }
    result.target = target;
    result.unknownNodes.add(p.getClass().getSimpleName());
    dropSelf();
  }

  private void dropSelf() {
    if (result.target == null) return;
    result.sources.remove(result.target.key());
    for (Set<ColumnSource> set : result.columns.values()) set.removeIf(c -> c.source.key().equals(result.target.key()));
  }

  // ---- the query: bottom-up, mapping every expression id to the source columns it derives from
  private void walk(LogicalPlan p) {
    if (stream != null && p.getClass().getSimpleName().equals("LogicalRDD")) {  // a foreachBatch micro-batch
      for (Source s : stream.sources.values()) result.sources.putIfAbsent(s.key(), s);
      for (Attribute a : attrs(p.output())) cols.put(a.exprId().id(), stream.outputs.getOrDefault(a.name(), Set.of()));
      return;
    }
    Source leaf = relation(p);
    if (leaf != null) {
      result.sources.putIfAbsent(leaf.key(), leaf);
      for (Attribute a : attrs(p.output())) cols.put(a.exprId().id(), Set.of(new ColumnSource(leaf, a.name())));
      return;
    }
    if (p instanceof SubqueryAlias alias && alias.child().children().isEmpty() && relation(alias.child()) == null
        && alias.identifier().qualifier().size() >= 2) {
      List<String> parts = new ArrayList<>(seq(alias.identifier().qualifier()));
      parts.add(alias.identifier().name());
      Source named = named(String.join(".", parts), "TABLE");
      result.sources.putIfAbsent(named.key(), named);
      for (Attribute a : attrs(alias.child().output())) cols.put(a.exprId().id(), Set.of(new ColumnSource(named, a.name())));
      for (Attribute a : attrs(p.output())) cols.put(a.exprId().id(), Set.of(new ColumnSource(named, a.name())));
      return;
    }
    for (LogicalPlan child : seq(p.children())) walk(child);  // WithCTE lists its definitions first
    if (p instanceof CTERelationDef d) ctes.put(d.id(), d.child());
    for (Expression e : seq(p.expressions())) aliases(e);
    if (p instanceof Union) unionInputs(p);
    if (p instanceof CTERelationRef ref && ctes.containsKey(ref.cteId())) {
      List<Attribute> def = attrs(ctes.get(ref.cteId()).output());
      List<Attribute> out = attrs(ref.output());
      for (int i = 0; i < out.size() && i < def.size(); i++) cols.put(out.get(i).exprId().id(), sources(def.get(i)));
    }
    if (p instanceof Generate g) {
      Set<ColumnSource> from = exprSources((Expression) g.generator());
      for (Attribute a : attrs(g.generatorOutput())) cols.put(a.exprId().id(), from);
    }
    if (p instanceof Expand x) {
      List<Attribute> out = attrs(x.output());
      for (scala.collection.immutable.Seq<Expression> projection : seq(x.projections())) {
        List<Expression> exprs = seq(projection);
        for (int i = 0; i < out.size() && i < exprs.size(); i++) {
          cols.computeIfAbsent(out.get(i).exprId().id(), k -> new LinkedHashSet<>()).addAll(exprSources(exprs.get(i)));
        }
      }
    }
    String node = p.getClass().getSimpleName();
    boolean known = KNOWN.contains(node);
    for (Attribute a : attrs(p.output())) {
      if (cols.containsKey(a.exprId().id())) continue;
      Set<ColumnSource> all = new LinkedHashSet<>();
      for (LogicalPlan child : seq(p.children())) for (Attribute c : attrs(child.output())) all.addAll(sources(c));
      cols.put(a.exprId().id(), all);
      if (!known) result.unknownNodes.add(node);
    }
  }

  private void unionInputs(LogicalPlan union) {
    List<LogicalPlan> children = seq(union.children());
    List<Attribute> out = attrs(union.output());
    for (int i = 0; i < out.size(); i++) {
      Set<ColumnSource> all = new LinkedHashSet<>();
      for (LogicalPlan child : children) {
        List<Attribute> in = attrs(child.output());
        if (i < in.size()) all.addAll(sources(in.get(i)));
      }
      cols.put(out.get(i).exprId().id(), all);
    }
  }

  private void aliases(Expression e) {
    if (e instanceof Alias a) {
      cols.put(a.exprId().id(), exprSources(a.child()));
      return;
    }
    if (e instanceof SubqueryExpression s) walk(s.plan());  // IN / EXISTS: a table-level source
    for (Expression child : seq(e.children())) aliases(child);
  }

  private Set<ColumnSource> exprSources(Expression e) {
    Set<ColumnSource> out = new LinkedHashSet<>();
    exprSources(e, out);
    return out;
  }

  private void exprSources(Expression e, Set<ColumnSource> out) {
    if (e instanceof Attribute a) { out.addAll(sources(a)); return; }
    if (e instanceof SubqueryExpression s) {
      walk(s.plan());
      if (s instanceof ScalarSubquery) for (Attribute a : attrs(s.plan().output())) out.addAll(sources(a));
    }
    for (Expression child : seq(e.children())) exprSources(child, out);
  }

  private Set<ColumnSource> sources(Attribute a) {
    return cols.getOrDefault(a.exprId().id(), Set.of());
  }

  // ---- naming: always the user-facing three-level name
  static Source relation(LogicalPlan p) {
    if (p instanceof View v && !v.isTempView()) return catalogTable(v.desc());
    if (p instanceof DataSourceV2Relation r) {
      if (r.catalog().isDefined() && r.identifier().isDefined()) return table(r.catalog().get(), r.identifier().get());
      return named(r.table().name(), "TABLE");
    }
    if (p instanceof LogicalRelation r) {
      if (r.catalogTable().isDefined()) return catalogTable(r.catalogTable().get());
      if (r.relation() instanceof HadoopFsRelation fs) return path(fs.location().rootPaths().head().toString());
      return null;
    }
    if (!p.children().isEmpty()) return null;
    Source fromField = catalogTableField(p);
    if (fromField != null) return fromField;
    String node = p.getClass().getSimpleName();
    if (node.startsWith("StreamingRelation")) {
      try {
        Object ds = p.getClass().getMethod("dataSource").invoke(p);
        Object ct = ds.getClass().getMethod("catalogTable").invoke(ds);
        if (ct instanceof Option<?> o && o.isDefined()) return catalogTable((CatalogTable) o.get());
      } catch (ReflectiveOperationException ignored) { }
    }
    return null;
  }

  /** A CatalogTable (or Option of one) among the node's fields: the V1 way of naming a table. */
  static Source catalogTableField(LogicalPlan p) {
    scala.collection.Iterator<Object> it = p.productIterator();
    while (it.hasNext()) {
      Object field = it.next();
      if (field instanceof CatalogTable t) return catalogTable(t);
      if (field instanceof Option<?> o && o.isDefined() && o.get() instanceof CatalogTable t) return catalogTable(t);
      if (field instanceof DataSourceV2Relation r) return relation(r);
      if (field instanceof Option<?> o && o.isDefined() && o.get() instanceof DataSourceV2Relation r) return relation(r);
    }
    return null;
  }

  static Source catalogTable(CatalogTable t) {
    String db = t.identifier().database().isDefined() ? t.identifier().database().get() : "default";
    String catalog = t.identifier().catalog().isDefined() ? t.identifier().catalog().get() : "spark_catalog";
    String type = t.tableType().name().equals("VIEW") ? "VIEW" : "TABLE";
    return named(userName(catalog, db, t.identifier().table()), type);
  }

  static Source table(CatalogPlugin catalog, Identifier id) {
    String[] ns = id.namespace();
    String schema = ns.length == 0 ? "default" : ns[ns.length - 1];
    return named(userName(catalog.name(), schema, id.name()), "TABLE");
  }

  /** {@code spark_catalog.dev_catalog__analytics.t} → {@code dev_catalog.analytics.t}. */
  static String userName(String catalog, String schema, String table) {
    int sep = schema.indexOf("__");
    if (catalog.equals("spark_catalog") && sep > 0) {
      return (schema.substring(0, sep) + "." + schema.substring(sep + 2) + "." + table).toLowerCase();
    }
    return (catalog + "." + schema + "." + table).toLowerCase();
  }

  static Source named(String name, String type) {
    String[] parts = name.replace("`", "").split("\\.");
    if (parts.length == 3) return new Source(userName(parts[0], parts[1], parts[2]), null, type);
    if (parts.length == 2) return new Source(userName("spark_catalog", parts[0], parts[1]), null, type);
    return new Source(userName("spark_catalog", "default", parts[parts.length - 1]), null, type);
  }

  static Source path(String path) { return new Source(null, path, "PATH"); }

  // ---- Scala collections
  static <T> List<T> seq(scala.collection.Seq<T> s) { return CollectionConverters.asJava(s); }
  static List<Attribute> attrs(scala.collection.Seq<Attribute> s) { return CollectionConverters.asJava(s); }
  static List<String> names(scala.collection.Seq<Attribute> s) {
    List<String> out = new ArrayList<>();
    for (Attribute a : attrs(s)) out.add(a.name());
    return out;
  }
}
