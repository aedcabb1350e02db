package dev.shadowcopy.image.s3;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The proof on a real distributed store: every S3 repository test against a one-node Ceph cluster with radosgw that
 * {@code bin/dev-ceph} brings up from Debian's packages (ceph-mon, ceph-osd on a file-backed BlueStore, radosgw).
 * Runs with {@code -Dshadowcopy.s3.server=ceph} (then the S3 tests of the same run also use it), as .ci/run does:
 * {@code bin/test -pl image -am -Dtest=CephRgwTest -Dshadowcopy.s3.server=ceph -Dsurefire.failIfNoSpecifiedTests=false}.
 * The result is recorded in docs/backup.md.
 */
@Tag("ceph")
@EnabledIfSystemProperty(named = "shadowcopy.s3.server", matches = "ceph")
class CephRgwTest {
    @Nested
    class Backend extends S3BackendTest {
    }

    @Nested
    class Repository extends S3RepositoryTest {
    }

    @Nested
    class LockFreeCollection extends LockFreeGcTest {
    }

    @Nested
    class CrashPoints extends S3CrashPointTest {
    }
}
