package dev.shadowcopy.image.s3;

import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.image.repository.RepositoryBackend;
import dev.shadowcopy.image.repository.RepositoryBackendContract;

/** The backend contract on a real S3 server (bin/dev-s3), each test in a bucket of its own. */
class S3BackendTest extends RepositoryBackendContract {
    @Override
    protected RepositoryBackend create() throws Exception {
        return RepositoryLocation.parse(S3Server.shared().freshLocation("contract")).backend(false);
    }
}
