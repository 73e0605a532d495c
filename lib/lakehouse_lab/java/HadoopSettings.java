package io.lakehouselab;

import java.io.IOException;
import java.lang.reflect.Field;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;

/**
 * A Hadoop configuration that is cheap to ship with every task.
 *
 * <p>Spark sends a copy of the Hadoop configuration with every task that reads or writes files, and Delta and
 * Structured Streaming copy it for every log listing, commit and checkpoint. Besides its ~1,100 settings, a
 * configuration keeps the name of the file each setting came from ({@code core-default.xml}, ...), and
 * {@code Configuration.write} gzips that name once per setting: a fresh compressor 1,100 times. Measured in the
 * lab's driver: writing one copy took 3.9 ms and reading it back 2.1 ms with those names, 0.2 and 0.5 ms
 * without them; an incremental pipeline update ships a copy about fifty times.
 *
 * <p>The names serve diagnostics only ({@code getPropertySources}, {@code dumpConfiguration}), so the session
 * drops them from the driver's base configuration once its default files are loaded; every copy taken later
 * starts without them. Settings changed later record their origin as usual. If a newly loaded Hadoop class adds
 * a default file, Hadoop reloads every configuration and the names come back: slower tasks, nothing else.
 */
public final class HadoopSettings {

    private static final String[] DEFAULT_FILE_OWNERS = {
        "org.apache.hadoop.mapred.JobConf", "org.apache.hadoop.hdfs.HdfsConfiguration"};

    private HadoopSettings() {
    }

    /**
     * Load {@code conf}'s default files (with MapReduce's, which Spark's file writers add on first use), then
     * forget which file each setting came from. Returns how many origins were forgotten, or -1 when this Hadoop
     * keeps them elsewhere (nothing is changed then).
     */
    public static int forgetSources(Configuration conf) {
        // the first use of these adds default files (mapred-, yarn-, hdfs-default.xml) and reloads every
        // configuration, which would bring the names back
        for (String name : DEFAULT_FILE_OWNERS) {
            try {
                Class.forName(name, true, HadoopSettings.class.getClassLoader());
            } catch (ClassNotFoundException | LinkageError e) {
                // not on the class path: nothing will add its files later either
            }
        }
        try {
            FileSystem.getFileSystemClass("file", conf);  // loads every file system class, as a first file access
        } catch (IOException e) {
            // no file system for file: (never in Spark); the names may come back, nothing else
        }
        conf.size();  // loads the default files
        try {
            Field field = Configuration.class.getDeclaredField("updatingResource");
            field.setAccessible(true);
            Map<?, ?> sources = (Map<?, ?>) field.get(conf);
            int forgotten = sources.size();
            sources.clear();
            return forgotten;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return -1;
        }
    }
}
