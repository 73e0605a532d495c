package io.lakehouselab;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFs;
import org.apache.hadoop.fs.DelegateToFileSystem;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FsServerDefaults;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.local.LocalConfigKeys;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Hadoop's local file system, asking the JDK where Hadoop would start a process.
 *
 * <p>Without Hadoop's native library (which pip's PySpark does not ship), every rename of a Delta commit or a
 * streaming checkpoint file runs {@code readlink}, and every file or folder created runs {@code chmod}: about
 * 160 processes in one incremental pipeline update, each costing the JVM a fork. Here the same answers come from
 * {@code java.nio.file}: a path that is not a symbolic link has the status {@code getFileStatus} gives, and a
 * permission is set with {@code Files.setPosixFilePermissions}. Symbolic links, sticky bits and file systems
 * without POSIX permissions keep Hadoop's own code.
 *
 * <p>Registered for the {@code file:} scheme by the session: {@code spark.hadoop.fs.file.impl} (the
 * {@code FileSystem} API) and {@code spark.hadoop.fs.AbstractFileSystem.file.impl} (the {@code FileContext} API,
 * which Delta's log store and Structured Streaming's checkpoints use).
 */
public class LocalFiles extends LocalFileSystem {

    public LocalFiles() {
        super(new Raw());
    }

    /** The raw (checksum-less) file system both APIs delegate to. */
    public static class Raw extends RawLocalFileSystem {

        @Override
        public FileStatus getFileLinkStatus(Path path) throws IOException {
            if (Files.isSymbolicLink(pathToFile(path).toPath())) {
                return super.getFileLinkStatus(path);
            }
            return getFileStatus(path);
        }

        /**
         * A folder's entries, each with one {@code lstat}. Hadoop's own listing makes several calls per entry
         * (exists, length, is-directory, modification time) and parses each entry's path as a URI two or three
         * times; Delta lists a table's whole {@code _delta_log} folder every time it looks for new commits, so a
         * log of 1,416 files took 38.5 ms per listing, 19.4 ms here. Symbolic links and anything that is not a
         * plain folder keep Hadoop's code. A listed entry has {@link FileStatus}'s default owner and permission,
         * not the file's (Hadoop reads those on request, with a process); {@code getFileStatus} gives the real ones.
         */
        @Override
        public FileStatus[] listStatus(Path path) throws IOException {
            java.nio.file.Path folder = pathToFile(path).toPath();
            if (!Files.isDirectory(folder, LinkOption.NOFOLLOW_LINKS)) {
                return super.listStatus(path);
            }
            Path qualified = makeQualified(path);
            List<FileStatus> found = new ArrayList<>();
            try (DirectoryStream<java.nio.file.Path> entries = Files.newDirectoryStream(folder)) {
                for (java.nio.file.Path entry : entries) {
                    Path child = new Path(qualified, new Path(null, null, entry.getFileName().toString()));
                    BasicFileAttributes attributes;
                    try {
                        attributes = Files.readAttributes(entry, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    } catch (NoSuchFileException gone) {
                        continue;  // deleted while listed, as Hadoop skips it
                    }
                    if (attributes.isSymbolicLink()) {
                        found.add(super.getFileStatus(child));
                    } else {
                        found.add(new FileStatus(attributes.size(),
                            attributes.isDirectory(), 1, getDefaultBlockSize(child),
                            attributes.lastModifiedTime().toMillis(), child));
                    }
                }
            }
            return found.toArray(new FileStatus[0]);
        }

        @Override
        public void setPermission(Path path, FsPermission permission) throws IOException {
            if (permission.getStickyBit()) {
                super.setPermission(path, permission);
                return;
            }
            String symbolic = permission.getUserAction().SYMBOL + permission.getGroupAction().SYMBOL
                    + permission.getOtherAction().SYMBOL;
            try {
                Files.setPosixFilePermissions(pathToFile(path).toPath(), PosixFilePermissions.fromString(symbolic));
            } catch (NoSuchFileException e) {
                throw new FileNotFoundException(path.toString());
            } catch (UnsupportedOperationException e) {
                super.setPermission(path, permission);
            }
        }
    }

    /** The {@code FileContext} side: {@code LocalFs}'s checksums over {@link Raw}. */
    public static class Fs extends ChecksumFs {

        public Fs(URI uri, Configuration conf) throws IOException, URISyntaxException {
            super(new RawFs(uri, conf));
        }
    }

    /** What {@code org.apache.hadoop.fs.local.RawLocalFs} is, over {@link Raw}. */
    public static class RawFs extends DelegateToFileSystem {

        public RawFs(URI uri, Configuration conf) throws IOException, URISyntaxException {
            super(uri, new Raw(), conf, "file", false);
        }

        @Override
        public int getUriDefaultPort() {
            return -1;
        }

        @Override
        @Deprecated
        public FsServerDefaults getServerDefaults() throws IOException {
            return LocalConfigKeys.getServerDefaults();
        }

        @Override
        public FsServerDefaults getServerDefaults(Path path) throws IOException {
            return LocalConfigKeys.getServerDefaults();
        }

        @Override
        public boolean isValidName(String src) {
            return true;
        }
    }
}
