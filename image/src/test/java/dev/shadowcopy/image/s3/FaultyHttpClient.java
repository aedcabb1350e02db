package dev.shadowcopy.image.s3;

import java.io.IOException;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import software.amazon.awssdk.http.ExecutableHttpRequest;
import software.amazon.awssdk.http.HttpExecuteRequest;
import software.amazon.awssdk.http.HttpExecuteResponse;
import software.amazon.awssdk.http.SdkHttpClient;

/**
 * The S3 client's HTTP layer with faults at chosen points, below the SDK's retries (s3proxy cannot misbehave on
 * request): from request {@link #crashAt} on nothing reaches the server (the process "died" there); and with
 * {@link #dropRate}, a request is either not sent or sent and its answer lost — the SDK must retry, and every request
 * must be idempotent. Requests are counted from 1.
 */
public final class FaultyHttpClient implements SdkHttpClient {
    private final SdkHttpClient delegate;
    private final AtomicLong count = new AtomicLong();
    private final Random random;
    public volatile long crashAt = Long.MAX_VALUE;
    public volatile double dropRate;
    public final AtomicLong dropped = new AtomicLong();

    public FaultyHttpClient(SdkHttpClient delegate, long seed) {
        this.delegate = delegate;
        this.random = new Random(seed);
    }

    public long requests() {
        return count.get();
    }

    @Override
    public ExecutableHttpRequest prepareRequest(HttpExecuteRequest request) {
        long n = count.incrementAndGet();
        if (n >= crashAt) {
            return failing("simulated crash before request " + n);
        }
        double r;
        synchronized (random) {
            r = random.nextDouble();
        }
        if (r < dropRate / 2) {
            dropped.incrementAndGet();
            return failing("simulated network failure: request " + n + " not sent");
        }
        ExecutableHttpRequest real = delegate.prepareRequest(request);
        if (r < dropRate) {
            dropped.incrementAndGet();
            return new ExecutableHttpRequest() {
                @Override
                public HttpExecuteResponse call() throws IOException {
                    HttpExecuteResponse resp = real.call();
                    if (resp.responseBody().isPresent()) {
                        resp.responseBody().get().readAllBytes();
                        resp.responseBody().get().close();
                    }
                    throw new IOException("simulated network failure: the answer to request " + n + " was lost");
                }

                @Override
                public void abort() {
                    real.abort();
                }
            };
        }
        return real;
    }

    private static ExecutableHttpRequest failing(String why) {
        return new ExecutableHttpRequest() {
            @Override
            public HttpExecuteResponse call() throws IOException {
                throw new IOException(why);
            }

            @Override
            public void abort() {
            }
        };
    }

    @Override
    public void close() {
        delegate.close();
    }

    @Override
    public String clientName() {
        return "faulty-" + delegate.clientName();
    }
}
