package io.lakehouselab;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.OptimisticTransaction;
import org.apache.spark.sql.delta.OptimisticTransaction$;
import org.apache.spark.sql.delta.Snapshot;
import org.apache.spark.sql.delta.VersionChecksum;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.delta.actions.AddFile;
import org.apache.spark.sql.execution.metric.SQLMetric;

import scala.Option;
import scala.Tuple2;
import scala.collection.Iterator;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Replacing every row of a small Delta table without rebuilding its file list first.
 *
 * <p>An overwrite removes the files the table holds. Delta finds them by rebuilding the table's state from its
 * log: a Spark job over the last checkpoint and every commit since. For a materialized view refreshed many times
 * that job costs more than the write itself (0.55 CPU-seconds, 0.32 s, for the course's gold table in the lab's
 * driver). When the table's latest commit added every file it now holds, which is so after any overwrite, that
 * commit already names them: the table's checksum file gives the number of files and bytes, and if the commit's
 * added files match both, they are the whole table. This class then writes and commits the way Delta's own
 * overwrite does (its file writer, one transaction that reads the whole table, the same operation and metrics in
 * the history), using those files as the ones to remove. Otherwise it does nothing and says so, and the caller
 * takes Delta's usual path.
 */
public final class WholeTableOverwrite {

    private WholeTableOverwrite() {
    }

    /** Whether {@link #overwrite} can replace the table's rows without rebuilding its file list. */
    public static boolean filesKnown(DeltaLog log) {
        return liveFiles(latest(log)) != null;
    }

    /**
     * Replace the rows of the table {@code log} belongs to with {@code data}, in one commit. Returns the version
     * committed, or -1 when nothing was done: the table's files are not all named by its latest commit, it has
     * domain metadata, its columns differ from {@code data}'s, or it is append-only (Delta's usual path reports
     * that).
     */
    public static long overwrite(DeltaLog log, Dataset<Row> data) {
        Snapshot snapshot = latest(log);
        List<AddFile> live = liveFiles(snapshot);
        if (live == null || !DeltaCommits.sameColumns(snapshot.metadata().schema(), data.schema())
                || !removable(snapshot)) {
            return -1;
        }
        OptimisticTransaction txn = log.startTransaction(Option.empty(), Option.apply(snapshot));
        OptimisticTransaction$.MODULE$.setActive(txn);
        try {
            txn.readWholeTable();
            txn.trackFilesRead(DeltaCommits.seq(live));
            List<Action> actions = new ArrayList<>(CollectionConverters.asJava(txn.writeFiles(data)));
            long now = System.currentTimeMillis();
            long removedBytes = 0;
            for (AddFile file : live) {
                actions.add(file.removeWithTimestamp(now, true));
                removedBytes += file.getFileSize();
            }
            registerRemoved(data.sparkSession(), txn, live.size(), removedBytes);
            return txn.commit(DeltaCommits.seq(actions), DeltaCommits.write(SaveMode.Overwrite, null));
        } finally {
            OptimisticTransaction$.MODULE$.clearActive();
        }
    }

    private static Snapshot latest(DeltaLog log) {
        return log.update(false, Option.empty(), Option.empty());
    }

    /**
     * The table's files when its latest commit added all of them (checked against its checksum) and the table has
     * no domain metadata; else null.
     */
    private static List<AddFile> liveFiles(Snapshot snapshot) {
        Option<VersionChecksum> checksum = snapshot.checksumOpt();
        if (checksum.isEmpty() || snapshot.version() < 0) {
            return null;
        }
        Map<String, AddFile> added = new LinkedHashMap<>();
        Iterator<Tuple2<Object, Seq<Action>>> changes =
            snapshot.deltaLog().getChanges(snapshot.version(), Option.empty(), false);
        if (!changes.hasNext()) {
            return null;
        }
        Tuple2<Object, Seq<Action>> commit = changes.next();
        if ((Long) commit._1() != snapshot.version()) {
            return null;
        }
        long bytes = 0;
        for (Action action : CollectionConverters.asJava(commit._2())) {
            if (action instanceof AddFile) {
                AddFile file = (AddFile) action;
                AddFile before = added.put(file.path(), file);
                bytes += file.getFileSize() - (before == null ? 0 : before.getFileSize());
            }
        }
        VersionChecksum sums = checksum.get();
        // domain metadata (clustering, row tracking) is something Delta's overwrite may rewrite: left to Delta
        boolean noDomains = sums.domainMetadata().isDefined() && sums.domainMetadata().get().isEmpty();
        return noDomains && added.size() == sums.numFiles() && bytes == sums.tableSizeBytes()
            ? new ArrayList<>(added.values()) : null;
    }

    private static boolean removable(Snapshot snapshot) {
        try {
            DeltaLog.assertRemovable(snapshot);
            return true;
        } catch (RuntimeException appendOnly) {
            return false;
        }
    }

    /** The history's numRemovedFiles and numRemovedBytes, as Delta's overwrite records them. */
    private static void registerRemoved(SparkSession spark, OptimisticTransaction txn, long files, long bytes) {
        Map<String, SQLMetric> metrics = new LinkedHashMap<>();
        metrics.put("numRemovedFiles", sum(spark, "number of files removed", files));
        metrics.put("numRemovedBytes", sum(spark, "number of bytes removed", bytes));
        txn.registerSQLMetrics(spark, scala.collection.immutable.Map$.MODULE$.from(
            CollectionConverters.asScala(metrics)));
    }

    private static SQLMetric sum(SparkSession spark, String name, long value) {
        SQLMetric metric = new SQLMetric("sum", 0L);
        metric.register(spark.sparkContext(), Option.apply(name), false);
        metric.set(value);
        return metric;
    }
}
