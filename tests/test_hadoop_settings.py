"""The Hadoop settings every task carries (``java/HadoopSettings.java``): all of them, without the name of the
file each came from, which Hadoop would gzip once per setting."""


def _serialized_size(spark, conf) -> int:
    jvm = spark.sparkContext._jvm
    wrapped = jvm.org.apache.spark.util.SerializableConfiguration(conf)
    serializer = jvm.org.apache.spark.serializer.JavaSerializer(spark.sparkContext._jsc.sc().conf()).newInstance()
    return serializer.serialize(wrapped, jvm.scala.reflect.ClassTag.apply(wrapped.getClass())).limit()


def test_copies_taken_after_files_were_written_keep_the_settings_but_not_their_file_names(spark, tmp_path):
    path = str(tmp_path / "table")
    spark.range(3).write.format("delta").save(path)  # first writes load the classes that add default files
    assert spark.read.format("delta").load(path).count() == 3
    copy = spark._jsparkSession.sessionState().newHadoopConf()  # what Spark and Delta ship with a task
    assert copy.get("fs.defaultFS") == "file:///" and copy.get("mapreduce.job.maps") == "2"
    assert copy.getPropertySources("fs.defaultFS") is None            # core-default.xml
    assert copy.getPropertySources("mapreduce.job.maps") is None      # mapred-default.xml


def test_a_copy_serialises_to_far_fewer_bytes_than_hadoops_own(spark):
    jvm = spark.sparkContext._jvm
    own = jvm.org.apache.hadoop.conf.Configuration(spark.sparkContext._jsc.hadoopConfiguration())
    own.reloadConfiguration()  # read from the files again: every setting names its file
    copy = spark._jsparkSession.sessionState().newHadoopConf()
    assert own.size() <= copy.size()
    assert _serialized_size(spark, copy) < 0.7 * _serialized_size(spark, own)
