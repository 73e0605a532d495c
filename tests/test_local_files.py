"""The session's ``file:`` file system (``java/LocalFiles.java``): Hadoop's answers, without starting processes."""
import os
import stat

import pytest


def _hadoop(spark):
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    root, hadoop = jvm.java.net.URI("file:///"), jvm.org.apache.hadoop.fs
    return jvm, hadoop.FileSystem.get(root, conf), hadoop.FileContext.getFileContext(root, conf)


def test_both_hadoop_apis_use_the_lab_file_system(spark):
    _, fs, files = _hadoop(spark)
    assert fs.getClass().getName() == "io.lakehouselab.LocalFiles"
    assert files.getDefaultFileSystem().getClass().getName() == "io.lakehouselab.LocalFiles$Fs"


def test_link_status_and_permissions_match_hadoop(spark, tmp_path):
    jvm, fs, _ = _hadoop(spark)
    regular, link = tmp_path / "data.txt", tmp_path / "link.txt"
    regular.write_text("rows")
    link.symlink_to(regular)
    status = fs.getFileLinkStatus(jvm.org.apache.hadoop.fs.Path(f"file:{regular}"))
    assert not status.isSymlink() and status.getLen() == 4
    linked = fs.getFileLinkStatus(jvm.org.apache.hadoop.fs.Path(str(link)))
    assert linked.isSymlink() and linked.getSymlink().toUri().getPath() == str(regular)
    with pytest.raises(Exception, match="FileNotFound"):
        fs.getFileLinkStatus(jvm.org.apache.hadoop.fs.Path(f"file:{tmp_path / 'missing'}"))

    fs.setPermission(jvm.org.apache.hadoop.fs.Path(f"file:{regular}"),
                     jvm.org.apache.hadoop.fs.permission.FsPermission.createImmutable(0o640))
    assert stat.S_IMODE(os.stat(regular).st_mode) == 0o640


def test_a_rename_that_would_overwrite_fails_as_delta_commits_need(spark, tmp_path):
    """Delta's log store commits version N by renaming a temporary file to N.json, and relies on the rename
    failing when N.json already exists (another writer committed N first)."""
    jvm, _, files = _hadoop(spark)
    hadoop = jvm.org.apache.hadoop.fs
    first, second, commit = tmp_path / "a.tmp", tmp_path / "b.tmp", tmp_path / "00000000000000000001.json"
    first.write_text("first writer")
    second.write_text("second writer")
    none = hadoop.Options.Rename.NONE
    rename_options = spark.sparkContext._gateway.new_array(hadoop.Options.Rename, 1)
    rename_options[0] = none
    files.rename(hadoop.Path(f"file:{first}"), hadoop.Path(f"file:{commit}"), rename_options)
    with pytest.raises(Exception, match="FileAlreadyExists"):
        files.rename(hadoop.Path(f"file:{second}"), hadoop.Path(f"file:{commit}"), rename_options)
    assert commit.read_text() == "first writer" and second.exists()


def test_a_folder_lists_as_hadoop_lists_it(spark, tmp_path):
    """Delta lists a table's whole log folder to find new commits; the lab lists with one lstat per entry."""
    jvm, fs, files = _hadoop(spark)
    (tmp_path / "00000000000000000000.json").write_text("{}\n")
    (tmp_path / "00000000000000000000.crc").write_text("{}")
    (tmp_path / "_staged_commits").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "00000000000000000000.json")
    folder = jvm.org.apache.hadoop.fs.Path(f"file:{tmp_path}")
    hadoop = jvm.org.apache.hadoop.fs.RawLocalFileSystem()
    hadoop.initialize(jvm.java.net.URI("file:///"), spark.sparkContext._jsc.hadoopConfiguration())

    def listed(statuses):
        return sorted((s.getPath().toString(), s.isDirectory(), s.getLen(), s.getModificationTime())
                      for s in statuses)

    expected = listed(hadoop.listStatus(folder))
    assert len(expected) == 4
    assert listed(fs.getRawFileSystem().listStatus(folder)) == expected
    assert listed(files.util().listStatus(folder)) == expected  # FileContext: streaming checkpoints, Delta's log
    file_path = jvm.org.apache.hadoop.fs.Path(f"file:{tmp_path / '00000000000000000000.crc'}")
    assert listed(fs.getRawFileSystem().listStatus(file_path)) == listed(hadoop.listStatus(file_path))
