package io.lakehouselab;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.Snapshot;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.delta.actions.AddFile;
import org.apache.spark.sql.delta.actions.CommitInfo;
import org.apache.spark.sql.delta.actions.FileAction;
import org.apache.spark.sql.delta.actions.SetTransaction;

import scala.Option;
import scala.Tuple2;
import scala.collection.Iterator;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The rows a Delta table gained in a run of commits that only appended, read from the files those commits added.
 *
 * <p>For such commits this is what the change data feed's inserts hold, but the change data feed reads them through
 * a relation that turns every row into a Java object and back, and plans a second query to do it: 50–80 ms more
 * for the course's incremental refresh of 20,000 rows. Here the added files become a Delta scan like the one a
 * streaming read of the table makes for a micro-batch (Delta's file index, so column mapping and the table's
 * schema apply). Files a commit rearranged without changing data (OPTIMIZE) are skipped, as the change data feed
 * skips them. When a commit in the run holds anything else but added files, commit info and stream progress, or a
 * commit is missing, this returns null and the caller reads the change data feed.
 */
public final class AppendedRows {

    private AppendedRows() {
    }

    /** The rows added in versions {@code first}..{@code last}, or null when those commits did more than append. */
    public static Dataset<Row> read(DeltaLog log, long first, long last) {
        List<AddFile> added = addedFiles(log, first, last);
        if (added == null) {
            return null;
        }
        Snapshot snapshot = log.getSnapshotAt(last, Option.empty(), Option.empty(), false);
        Dataset<Row> rows = log.createDataFrame(snapshot, DeltaCommits.seq(added), false, Option.apply("batch"));
        return rows.schema().length() == snapshot.schema().length() ? rows : null;
    }

    private static List<AddFile> addedFiles(DeltaLog log, long first, long last) {
        List<AddFile> added = new ArrayList<>();
        Iterator<Tuple2<Object, Seq<Action>>> changes = log.getChanges(first, Option.empty(), false);
        long expected = first;
        while (expected <= last) {
            if (!changes.hasNext()) {
                return null;
            }
            Tuple2<Object, Seq<Action>> commit = changes.next();
            if ((Long) commit._1() != expected) {
                return null;  // a commit file is gone (log cleaned up)
            }
            for (Action action : CollectionConverters.asJava(commit._2())) {
                boolean changesData = action instanceof FileAction && ((FileAction) action).dataChange();
                if (changesData && action instanceof AddFile) {
                    added.add((AddFile) action);
                } else if (changesData || !(action instanceof FileAction || action instanceof CommitInfo
                        || action instanceof SetTransaction)) {
                    return null;  // removes, change data files, metadata, protocol, domains: not only appends
                }
            }
            expected++;
        }
        return added;
    }
}
