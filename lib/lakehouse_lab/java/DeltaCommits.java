package io.lakehouselab;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.delta.DeltaOperations;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import scala.Option;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/** What the lab's direct Delta reads and writes ({@link WholeTableOverwrite}, {@link TableAppend},
 * {@link AppendedRows}) share. */
final class DeltaCommits {

    private DeltaCommits() {
    }

    /** Same column names (any case) and types (any nullability), in the same order. */
    static boolean sameColumns(StructType table, StructType data) {
        StructField[] a = table.fields();
        StructField[] b = data.fields();
        if (a.length != b.length) {
            return false;
        }
        for (int i = 0; i < a.length; i++) {
            if (!a[i].name().equalsIgnoreCase(b[i].name())
                    || !DataType.equalsIgnoreNullability(a[i].dataType(), b[i].dataType())) {
                return false;
            }
        }
        return true;
    }

    /** The history's WRITE operation, as a DataFrame write in {@code mode} records it. */
    static DeltaOperations.Write write(SaveMode mode, String userMetadata) {
        Option<Seq<String>> noPartitionColumns = Option.apply(seq(new ArrayList<String>()));
        return new DeltaOperations.Write(mode, noPartitionColumns, Option.empty(), Option.apply(userMetadata),
            Option.empty(), Option.empty(), Option.empty(), Option.empty(), Option.empty());
    }

    static <T> Seq<T> seq(List<T> items) {
        return CollectionConverters.asScala(items).toSeq();
    }
}
