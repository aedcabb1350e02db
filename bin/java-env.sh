# Sourced by the scripts in bin/: finds a Java 25 JDK and exports JAVA_HOME.
# Order: $SHADOWCOPY_JAVA_HOME, $JAVA_HOME, then JDKs under /usr/lib/jvm and /opt.
shadowcopy_java_version() { # prints the feature version of the JDK at $1, or nothing
  [ -x "$1/bin/java" ] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}
shadowcopy_find_java() {
  local candidate
  for candidate in "${SHADOWCOPY_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/* /opt/*jdk* /opt/java/*; do
    [ -n "$candidate" ] || continue
    local v; v=$(shadowcopy_java_version "$candidate")
    if [ -n "$v" ] && [ "$v" -ge 25 ] 2>/dev/null; then echo "$candidate"; return 0; fi
  done
  return 1
}
if ! JAVA_HOME=$(shadowcopy_find_java); then
  echo "shadowcopy: no Java 25 JDK found (looked at \$SHADOWCOPY_JAVA_HOME, \$JAVA_HOME, /usr/lib/jvm/*, /opt)." >&2
  echo "shadowcopy: install one (e.g. Temurin 25) or point SHADOWCOPY_JAVA_HOME at it." >&2
  exit 3
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
# Maven 3.8's bundled Guava touches sun.misc.Unsafe; on Java 25 that prints warnings on every build.
case " ${MAVEN_OPTS:-} " in *sun-misc-unsafe*) ;; *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;; esac
