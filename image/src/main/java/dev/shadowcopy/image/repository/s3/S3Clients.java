package dev.shadowcopy.image.repository.s3;

import java.net.URI;
import java.time.Duration;
import java.util.function.UnaryOperator;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.retries.api.BackoffStrategy;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3Configuration;

/**
 * Builds the S3 client from the AWS SDK's standard configuration: credentials and region from the environment
 * ({@code AWS_ACCESS_KEY_ID}, {@code AWS_SECRET_ACCESS_KEY}, {@code AWS_REGION}) or the profile
 * ({@code ~/.aws/credentials}, {@code AWS_PROFILE}), the endpoint from {@code AWS_ENDPOINT_URL} (or
 * {@code AWS_ENDPOINT_URL_S3}), which the SDK reads itself. Signing is the SDK's.
 *
 * <p>Choices, and why:
 * <ul>
 *   <li>Path-style addressing whenever an endpoint is given (MinIO, Ceph RGW and s3proxy are reached by address,
 *       without a DNS name per bucket); {@code SHADOWCOPY_S3_PATH_STYLE=true|false} overrides.</li>
 *   <li>Retries with exponential backoff and jitter (100 ms doubling up to 20 s, {@code SHADOWCOPY_S3_ATTEMPTS},
 *       default 10 attempts) on network errors, 5xx and throttling; every request we send is idempotent (whole-object
 *       PUT, GET, HEAD, DELETE), so a request whose answer was lost is simply sent again. No circuit breaker: a
 *       backup retries each request rather than failing fast after a burst of errors.</li>
 *   <li>Checksums only where S3 requires them, and no aws-chunked uploads: the SDK's trailing checksums and chunked
 *       signing are not understood by every S3-compatible server (Ceph RGW 16 answers 400 to an empty object sent
 *       aws-chunked); each object is in memory, so its whole payload is signed at once, and carries its own CRC32C or
 *       GCM tag anyway.</li>
 * </ul>
 */
public final class S3Clients {
    private S3Clients() {}

    /** The endpoint the SDK will use, or null for AWS itself. */
    public static String endpoint() {
        String e = System.getenv("AWS_ENDPOINT_URL_S3");
        if (e == null || e.isBlank()) {
            e = System.getenv("AWS_ENDPOINT_URL");
        }
        if (e == null || e.isBlank()) {
            e = System.getProperty("aws.endpointUrl");
        }
        return e == null || e.isBlank() ? null : e;
    }

    /**
     * A client configured as above; {@code wrap} may decorate its HTTP client (the fault-injection tests drop and
     * fail requests there, below the SDK's retries).
     */
    public static S3Client build(UnaryOperator<SdkHttpClient> wrap) {
        String endpoint = endpoint();
        String pathStyle = System.getenv("SHADOWCOPY_S3_PATH_STYLE");
        boolean path = pathStyle != null ? Boolean.parseBoolean(pathStyle) : endpoint != null;
        int attempts = Integer.parseInt(System.getenv().getOrDefault("SHADOWCOPY_S3_ATTEMPTS",
                System.getProperty("shadowcopy.s3.attempts", "10")));
        BackoffStrategy backoff = BackoffStrategy.exponentialDelay(
                Duration.ofMillis(Long.getLong("shadowcopy.s3.backoff-ms", 100)), Duration.ofSeconds(20));
        SdkHttpClient http = UrlConnectionHttpClient.builder().connectionTimeout(Duration.ofSeconds(10))
                .socketTimeout(Duration.ofSeconds(60)).build();
        var b = S3Client.builder()
                .httpClient(wrap == null ? http : wrap.apply(http))
                .credentialsProvider(DefaultCredentialsProvider.builder().build())
                .region(region(endpoint))
                .forcePathStyle(path)
                .serviceConfiguration(S3Configuration.builder().chunkedEncodingEnabled(false).build())
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .overrideConfiguration(c -> c.retryStrategy(AwsRetryStrategy.standardRetryStrategy().toBuilder()
                        .maxAttempts(attempts).backoffStrategy(backoff).circuitBreakerEnabled(false).build()));
        if (endpoint != null) {
            b.endpointOverride(URI.create(endpoint));
        }
        return b.build();
    }

    private static Region region(String endpoint) {
        try {
            return new DefaultAwsRegionProviderChain().getRegion();
        } catch (RuntimeException e) {
            if (endpoint != null) {
                return Region.US_EAST_1; // an S3-compatible server at an address: any region signs
            }
            throw new IllegalArgumentException("no AWS region: set AWS_REGION (or a region in the AWS profile)", e);
        }
    }
}
