package dev.shadowcopy.service.sequence;

import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.provider.ForeignVolumes;
import dev.shadowcopy.writer.EventContext;
import dev.shadowcopy.writer.VolumeLocator;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterCall;
import dev.shadowcopy.writer.WriterEvent;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterMetadata;
import dev.shadowcopy.writer.WriterRegistry;
import dev.shadowcopy.writer.WriterState;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;

/**
 * The writers' side of the sequence: which writers take part in a set (Identify, then placement of their files on
 * the set's volumes), and sending them an event all at once, each call on its own virtual thread under a deadline
 * ({@link WriterCall} stops waiting at it), recording each writer's state in the session.
 */
final class WriterCalls {
    private final WriterRegistry writers;
    private final EventLog events;
    private final Supplier<VolumeLocator> locator;
    private final Supplier<ForeignVolumes> foreign;
    private final ExecutorService calls = Executors.newVirtualThreadPerTaskExecutor();

    WriterCalls(WriterRegistry writers, EventLog events, Supplier<VolumeLocator> locator,
                Supplier<ForeignVolumes> foreign) {
        this.writers = writers;
        this.events = events;
        this.locator = locator;
        this.foreign = foreign;
    }

    /** Identify: writers that fail it drop out of the session (as in VSS); excluded writers are skipped. */
    List<Writer> gather(Session s, EventContext ctx) throws ServiceException {
        if (s.gathered() != null) {
            return s.gathered().stream().filter(Writer::alive).toList();
        }
        List<Writer> candidates = writers.current().stream().filter(w -> !s.excludedWriters().contains(w.name()))
                .toList();
        for (String v : s.verifiedWriters()) {
            if (candidates.stream().noneMatch(w -> w.name().equals(v))) {
                throw new ServiceException(VssError.WRITER_INFRASTRUCTURE, "writer " + v + " must take part "
                        + "(writer verify) but is not registered", v, null);
            }
        }
        List<Writer> ok = new ArrayList<>();
        for (WriterCall.Outcome o : callAll(candidates, WriterEvent.IDENTIFY, ctx)) {
            if (o.ok()) {
                ok.add(o.writer());
                if (o.metadata() != null) {
                    s.metadata(o.writer().name(), o.metadata());
                }
                s.status(o.writer(), WriterState.STABLE, WriterFailure.NONE, null);
            } else if (s.verifiedWriters().contains(o.writer().name())) {
                s.status(o.writer(), WriterState.FAILED_AT_IDENTIFY, o.failure(), o.message());
                throw error(o);
            } else {
                events.append("writer-failed", "warning", "writer " + o.writer().name() + " failed identify and "
                        + "takes no part in the set: " + o.message(), Map.of("writer", o.writer().name()));
            }
        }
        s.gathered(ok);
        return ok;
    }

    /**
     * Which writers take part. A writer's components are placed on volumes through its metadata: a file's
     * {@code volume} when the writer names it, else the volume its path is on (the file system of an attached
     * volume, or a btrfs subvolume) — for hooks and external writers alike. A writer takes part only in a set that
     * contains all of those volumes (a database split across volumes copied at different instants is no copy at
     * all); a set with none of them leaves it out, and so does every set when its files are on no volume the
     * service copies; a set with some of them is refused. A writer that describes no files (a plain hook) takes
     * part in every set.
     */
    List<Writer> coverage(Session s, List<Writer> ws, List<String> names) throws ServiceException {
        List<Writer> out = new ArrayList<>();
        Map<String, WriterMetadata> md = s.metadata();
        for (Writer w : ws) {
            Set<String> vols = new TreeSet<>();
            boolean describesFiles = false;
            WriterMetadata m = md.get(w.name());
            if (m != null) {
                for (var c : m.components()) {
                    for (var f : c.files()) {
                        describesFiles = true;
                        String v = f.volume() != null ? f.volume() : volumeOf(f.path());
                        if (v != null) {
                            vols.add(v);
                        }
                    }
                }
            }
            Set<String> missing = new TreeSet<>(vols);
            missing.removeAll(names);
            if (!describesFiles || (!vols.isEmpty() && missing.isEmpty())) {
                out.add(w);
            } else if (!vols.isEmpty() && missing.size() < vols.size()) {
                throw new ServiceException(VssError.WRITERERROR_INCONSISTENTSNAPSHOT, "writer " + w.name() + " has "
                        + "components on volumes " + String.join(", ", vols) + "; the set must contain all of them "
                        + "(missing: " + String.join(", ", missing) + ")", w.name(), null);
            }
        }
        return out;
    }

    /** The managed or kernel-snapshotted volume a metadata path lives on, or null. */
    private String volumeOf(String path) {
        Path p;
        try {
            p = Path.of(path);
        } catch (RuntimeException e) {
            return null;
        }
        var managed = locator.get().volumeOf(p);
        if (managed.isPresent()) {
            return managed.get();
        }
        for (ForeignVolumes.Foreign f : foreign.get().list()) {
            if (f.holds(p)) {
                return f.name();
            }
        }
        return null;
    }

    /** One phase's event to every participant; the first failure (after all answered) fails the phase. */
    void phase(Session s, List<Writer> involved, WriterEvent event, EventContext ctx) throws ServiceException {
        WriterCall.Outcome firstFailure = null;
        for (WriterCall.Outcome o : callAll(involved, event, ctx)) {
            if (o.ok()) {
                s.status(o.writer(), event.stateAfter(), WriterFailure.NONE, null);
            } else {
                s.status(o.writer(), event.failedState(), o.failure(), o.message());
                if (firstFailure == null) {
                    firstFailure = o;
                }
            }
        }
        if (firstFailure != null) {
            throw error(firstFailure);
        }
    }

    /** Abort to the participants; failures are logged, writers that had not failed are stable again. */
    void abort(Session s, List<Writer> involved, EventContext ctx) {
        for (WriterCall.Outcome o : callAll(involved, WriterEvent.ABORT, ctx)) {
            if (!o.ok()) {
                events.append("writer-abort-failed", "warning", "writer " + o.writer().name()
                        + " failed to handle abort: " + o.message(), Map.of("writer", o.writer().name()));
            } else if (s.writerStatus().stream().noneMatch(w -> w.name().equals(o.writer().name())
                    && w.state().failed())) {
                s.status(o.writer(), WriterState.STABLE, null, null);
            }
        }
    }

    /**
     * Sends one event to the writers taking part in the session's set (backup complete, backup shutdown); returns
     * the failures. Writers that were left out of the set hear nothing (VSS).
     */
    List<WriterCall.Outcome> notify(Session s, WriterEvent event, Instant deadline) {
        List<Writer> ws = s.participants().stream().filter(Writer::alive).toList();
        EventContext ctx = new EventContext(s.setId() == null ? null : UUID.fromString(s.setId()), List.of(),
                s.context().wireName(), s.backupType(), Map.of(), deadline, s.components(), Map.of());
        List<WriterCall.Outcome> failures = new ArrayList<>();
        for (WriterCall.Outcome o : callAll(ws, event, ctx)) {
            if (o.ok()) {
                s.status(o.writer(), event.stateAfter(), null, null);
            } else {
                s.status(o.writer(), event.failedState(), o.failure(), o.message());
                failures.add(o);
            }
        }
        return failures;
    }

    /** The requester's error for a writer's failure: its VSS error, the writer named, whether a retry can help. */
    static ServiceException error(WriterCall.Outcome o) {
        VssError err = o.failure().error() == null ? VssError.UNEXPECTED_WRITER_ERROR : o.failure().error();
        String retry = err.retryable() ? "; retrying can help" : "; retrying will not help until the writer is fixed";
        return new ServiceException(err, "writer " + o.writer().name() + " failed at " + o.event().wireName() + ": "
                + o.message() + retry, o.writer().name(), null);
    }

    /** Calls every writer at once, each on its own thread under the context's deadline; outcomes in order. */
    private List<WriterCall.Outcome> callAll(List<Writer> ws, WriterEvent event, EventContext ctx) {
        List<Future<WriterCall.Outcome>> fs = new ArrayList<>();
        for (Writer w : ws) {
            fs.add(calls.submit(() -> WriterCall.call(w, event, ctx)));
        }
        List<WriterCall.Outcome> out = new ArrayList<>();
        for (Future<WriterCall.Outcome> f : fs) {
            try {
                out.add(f.get()); // bounded: WriterCall itself stops waiting at the deadline
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while calling writers", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("writer call failed", e.getCause());
            }
        }
        return out;
    }
}
