# Sourced by bin/bench-*: builds the bench module (and what it needs) and sets BENCH_CP.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$here/bin/java-env.sh"
(cd "$here" && mvn -B -q -ntp -DskipTests -pl bench -am package) >&2
BENCH_CP="$here/bench/target/classes:$here/bench/target/lib/*"
bench_java() { "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xmx4g "$@"; }
