#!/usr/bin/env bash
# Runs one Kafka node (java "$@") for test/support/kafka-broker.ts: prints the JVM's pid first, and kills the JVM
# when stdin closes, i.e. when the test process that started it is gone, so no broker outlives its test run.
exec 3<&0
java "$@" </dev/null 3<&- &
jvm=$!
echo "pid $jvm"
# A background job's stdin is /dev/null unless redirected: read the real one through fd 3.
( cat <&3 >/dev/null; kill -KILL "$jvm" 2>/dev/null ) &
exec 3<&-
wait "$jvm"
