package io.lakehouselab;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.OptimisticTransaction;
import org.apache.spark.sql.delta.OptimisticTransaction$;
import org.apache.spark.sql.delta.Snapshot;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.types.StructField;

import scala.Option;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Appending rows to a Delta table in one transaction, without the table write command around it.
 *
 * <p>A DataFrame append ({@code saveAsTable}, {@code writeTo().append()}) resolves the table in the catalog, plans
 * a write command, then opens the same transaction this class opens: Delta's file writer (which checks the
 * table's constraints and NOT NULL columns) and one commit recorded as a WRITE in Append mode. For the small appends
 * of a pipeline update (a micro-batch, the event log) the command costs about as much as the write. This class is
 * used only when {@code data} has the table's columns and the table has no column that needs the write command's
 * handling (identity, generated, default values, CHAR/VARCHAR lengths); otherwise it returns -1 and writes
 * nothing, and the caller appends the usual way.
 */
public final class TableAppend {

    private TableAppend() {
    }

    /**
     * Append {@code data} to the table {@code log} belongs to, noting {@code userMetadata} (may be null) in the
     * commit. Returns the version committed, or -1 when nothing was written (see the class comment).
     */
    public static long append(DeltaLog log, Dataset<Row> data, String userMetadata) {
        Snapshot snapshot = log.update(false, Option.empty(), Option.empty());
        if (snapshot.version() < 0 || !DeltaCommits.sameColumns(snapshot.metadata().schema(), data.schema())
                || !plainColumns(snapshot)) {
            return -1;
        }
        OptimisticTransaction txn = log.startTransaction(Option.empty(), Option.apply(snapshot));
        OptimisticTransaction$.MODULE$.setActive(txn);
        try {
            List<Action> actions = new ArrayList<>(CollectionConverters.asJava(txn.writeFiles(data)));
            return txn.commit(DeltaCommits.seq(actions), DeltaCommits.write(SaveMode.Append, userMetadata));
        } finally {
            OptimisticTransaction$.MODULE$.clearActive();
        }
    }

    /** No column carries more than a comment or its column-mapping id and physical name. */
    private static boolean plainColumns(Snapshot snapshot) {
        for (StructField field : snapshot.metadata().schema().fields()) {
            for (String key : CollectionConverters.asJava(field.metadata().map().keySet())) {
                if (!key.equals("comment") && !key.startsWith("delta.columnMapping.")) {
                    return false;
                }
            }
        }
        return true;
    }
}
