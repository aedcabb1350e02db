package dev.shadowcopy.provider;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.provider.ModelRun.Checkpoint;
import dev.shadowcopy.provider.ModelRun.Create;
import dev.shadowcopy.provider.ModelRun.Delete;
import dev.shadowcopy.provider.ModelRun.Fault;
import dev.shadowcopy.provider.ModelRun.Flush;
import dev.shadowcopy.provider.ModelRun.Op;
import dev.shadowcopy.provider.ModelRun.Reopen;
import dev.shadowcopy.provider.ModelRun.Revert;
import dev.shadowcopy.provider.ModelRun.Shape;
import dev.shadowcopy.provider.ModelRun.Trim;
import dev.shadowcopy.provider.ModelRun.Write;
import dev.shadowcopy.provider.ModelRun.Zero;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.testing.SimulatedStorage;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeLayout;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What every provider engine ({@code VolumeEngine}) promises, run against the real engine of each layout on
 * {@link SimulatedStorage} (STYLE 16 and 17): the model property (random writes, trims, streams, zeroing, flushes,
 * copy creation, deletion, revert, checkpoints, clean reopens, power losses and injected I/O faults, checked against
 * {@link VolumeModel}: every copy reads back exactly, every flushed write survives, change tracking never misses), the
 * same with the background work on real threads, a fault at every storage operation of each state-changing operation
 * followed by a power loss, and the lifecycle rules a requester relies on. Each layout's test extends this with
 * {@link #layout()}.
 */
public abstract class VolumeEngineContract {
    private static final int SEEDS = 3;
    private static final Path STATE = Path.of("/state/volumes");

    /** The layout under test. */
    protected abstract VolumeLayout layout();

    /** Whether the layout keeps a journal (checkpoints do I/O) and a shadow storage maximum. */
    protected boolean journalled() {
        return layout() == VolumeLayout.COPY_ON_WRITE || layout() == VolumeLayout.REDIRECT_ON_WRITE;
    }

    // ---------------------------------------------------------------- the model, single-threaded and with threads

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Double> frac = Arbitraries.doubles().between(0, 1);
        Arbitrary<Op> op = Arbitraries.frequencyOf(
                Tuple.of(12, Combinators.combine(frac, frac, Arbitraries.integers()).as((a, l, s) -> (Op) new Write(a, l, s))),
                Tuple.of(2, Combinators.combine(frac, frac).as((a, l) -> (Op) new Trim(a, l))),
                Tuple.of(2, Combinators.combine(frac, Arbitraries.integers().between(2, 24), Arbitraries.integers())
                        .as((a, n, s) -> (Op) new ModelRun.Stream(a, n, s))),
                Tuple.of(2, Combinators.combine(frac, frac, Arbitraries.of(true, false)).as((a, l, d) -> (Op) new Zero(a, l, d))),
                Tuple.of(3, Arbitraries.just(new Flush())),
                Tuple.of(5, Arbitraries.of(true, true, false).map(p -> (Op) new Create(p))),
                Tuple.of(2, Arbitraries.integers().between(0, 50).map(w -> (Op) new Delete(w))),
                Tuple.of(1, Arbitraries.integers().between(0, 50).map(w -> (Op) new Revert(w))),
                Tuple.of(3, Combinators.combine(Arbitraries.integers().between(0, 50), frac, frac)
                        .as((w, a, l) -> (Op) new ModelRun.ReadCopy(w, a, l))),
                Tuple.of(1, Arbitraries.just(new Reopen())),
                Tuple.of(2, Arbitraries.just(new ModelRun.Crash())),
                Tuple.of(1, Arbitraries.just(new Checkpoint())),
                Tuple.of(2, Arbitraries.integers().between(1, 12).map(n -> (Op) new Fault(n))));
        return op.list().ofMinSize(5).ofMaxSize(60);
    }

    @Property(tries = 300)
    void everyCopyStaysExactAndEveryFlushedWriteSurvives(@ForAll("ops") List<Op> ops, @ForAll Shape shape,
                                                         @ForAll @IntRange(min = 0, max = 1_000_000) int seed)
            throws IOException {
        new ModelRun.Run(shape, layout(), seed).execute(ops);
    }

    /**
     * The same with the background work on real threads (merges, periodic commits, checkpoints, slot preparation,
     * resyncs) racing the operations, and crashes landing in the middle of it: not reproducible by seed, but the
     * races a single-threaded run cannot show.
     */
    @Property(tries = 150)
    void theSameHoldsWithBackgroundWorkOnRealThreads(@ForAll("ops") List<Op> ops, @ForAll Shape shape,
                                                     @ForAll @IntRange(min = 0, max = 1_000_000) int seed)
            throws IOException {
        new ModelRun.Run(shape, layout(), seed, true).execute(ops);
    }

    // ---------------------------------------------------------------- every fault point

    static Stream<Arguments> scenarios() {
        List<Op> base = List.of(new Write(0.0, 1.0, 1), new Write(0.4, 1.0, 2), new Flush());
        return Stream.of(
                Arguments.of("first write after a copy", Shape.SMALL_CHUNKS, cat(base, new Create(true)),
                        new Write(0.0, 0.9, 7), false),
                Arguments.of("sequential stream preserving ahead", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new ModelRun.Stream(0.0, 3, 1)), new ModelRun.Stream(0.12, 4, 2),
                        false),
                Arguments.of("write into a hole after a copy", Shape.SMALL_CHUNKS, List.of(new Create(true)),
                        new Write(0.3, 0.8, 3), false),
                Arguments.of("create a copy", Shape.SMALL_CHUNKS, cat(base, new Write(0.1, 0.2, 4)), new Create(true),
                        false),
                Arguments.of("delete the older of two copies", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new Write(0.0, 0.7, 5), new Create(true), new Write(0.0, 1.0, 6)),
                        new Delete(0), false),
                Arguments.of("revert to the first copy", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new Write(0.0, 0.7, 5), new Create(true), new Write(0.2, 1.0, 6)),
                        new Revert(0), false),
                Arguments.of("trim after a copy", Shape.SMALL_CHUNKS, cat(base, new Create(true)), new Trim(0.1, 1.0),
                        false),
                Arguments.of("zero after a copy", Shape.SMALL_CHUNKS, cat(base, new Create(true)),
                        new Zero(0.0, 1.0, false), false),
                Arguments.of("checkpoint", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new Write(0.0, 0.5, 8), new Create(false)), new Checkpoint(), true),
                Arguments.of("clean reopen", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new Write(0.0, 0.5, 8), new Create(false)), new Reopen(), false),
                Arguments.of("write that must release the oldest copy", Shape.LIMITED_STORAGE,
                        cat(List.of(new Write(0.0, 1.0, 1), new Write(0.5, 1.0, 2)), new Create(true),
                                new Write(0.0, 1.0, 3), new Write(0.1, 1.0, 3), new Write(0.2, 1.0, 3),
                                new Write(0.3, 1.0, 3), new Write(0.4, 1.0, 3), new Create(true)),
                        new Write(0.6, 1.0, 9), true));
    }

    /**
     * For each operation that changes durable state, fail the N-th storage operation inside it for every N, then
     * simulate a power loss (unsynced sectors survive at random, several seeds) and check the model. A scenario whose
     * victim does no storage I/O would prove nothing: it fails. Scenarios about a journal or a shadow storage maximum
     * run only for the layouts that have them.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("scenarios")
    void everyFaultPointRecoversToTheModel(String name, Shape shape, List<Op> prefix, Op victim, boolean journalOnly)
            throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(!journalOnly || journalled(),
                "the " + layout().shortName() + " layout has no journal or shadow storage maximum");
        ModelRun.Run probe = new ModelRun.Run(shape, layout(), 1);
        probe.executeWithoutFinalCrash(prefix);
        long before = probe.disk.operations();
        probe.apply(victim);
        long points = probe.disk.operations() - before;
        assertTrue(points > 0, name + ": the operation did no storage I/O, so no fault could be injected into it");
        for (int n = 1; n <= points; n++) {
            for (int seed = 0; seed < SEEDS; seed++) {
                List<Op> script = new ArrayList<>(prefix);
                script.add(new Fault(n));
                script.add(victim);
                try {
                    new ModelRun.Run(shape, layout(), 1000L * n + seed).execute(script);
                } catch (AssertionError | IOException | RuntimeException e) {
                    throw new AssertionError(name + ": fault at storage operation " + n + " of " + points
                            + ", crash seed " + seed + ": " + e.getMessage(), e);
                }
            }
        }
    }

    private static List<Op> cat(List<Op> a, Op... more) {
        List<Op> out = new ArrayList<>(a);
        out.addAll(List.of(more));
        return out;
    }

    // ---------------------------------------------------------------- lifecycle rules

    private ManagedVolume volume(SimulatedStorage disk, int maxCopies) throws IOException {
        VolumeManager m = VolumeManager.open(disk, STATE, VolumeEvents.NONE, VolumeManager.Tuning.inline(1 << 20),
                Providers.ALL);
        return m.create(VolumeConfig.sparse("v", 256 << 10).withChunkSize(4096).withLayout(layout())
                .withMaxShadowCopies(maxCopies));
    }

    /** Creates a copy; a split mirror refuses until its resynchronisation is done (retryable): wait, bounded. */
    private static ShadowCopyInfo create(ManagedVolume v, ShadowCopyId id, boolean persistent) throws IOException {
        long end = System.nanoTime() + 30_000_000_000L;
        while (true) {
            try {
                return v.createShadowCopy(id, persistent);
            } catch (VolumeException e) {
                if (e.code() != VolumeException.Code.RESYNC_IN_PROGRESS || System.nanoTime() > end) {
                    throw e;
                }
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
        }
    }

    private static ShadowCopyInfo create(ManagedVolume v, boolean persistent) throws IOException {
        return create(v, ShadowCopyId.random(), persistent);
    }

    @Test
    void aCopyKeepsItsInstantWhileTheVolumeIsRewritten() throws IOException {
        ManagedVolume v = volume(new SimulatedStorage(1), 8);
        v.write(0, Segments.of(Segments.filled(64 << 10, 1)), false);
        ShadowCopyInfo c = create(v, true);
        v.write(4096, Segments.of(Segments.filled(40 << 10, 2)), false);
        byte[] expected = new byte[256 << 10];
        java.util.Arrays.fill(expected, 0, 64 << 10, (byte) 1);
        assertArrayEquals(expected, VolumeModel.readCopy(v, c.id(), 0, 256 << 10));
        assertEquals(List.of(c), v.shadowCopies());
    }

    @Test
    void copiesAreListedOldestFirstWithGrowingSequences() throws IOException {
        ManagedVolume v = volume(new SimulatedStorage(2), 8);
        ShadowCopyInfo a = create(v, true);
        ShadowCopyInfo b = create(v, false);
        assertEquals(List.of(a.id(), b.id()), v.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
        assertTrue(b.sequence() > a.sequence());
        assertFalse(b.persistent());
    }

    @Test
    void theMaximumNumberOfCopiesIsEnforcedAndADuplicateIdIsRefused() throws IOException {
        ManagedVolume v = volume(new SimulatedStorage(3), 2);
        ShadowCopyInfo a = create(v, true);
        VolumeException dup = assertThrows(VolumeException.class, () -> create(v, a.id(), true));
        assertEquals(VolumeException.Code.OBJECT_ALREADY_EXISTS, dup.code());
        create(v, true);
        VolumeException full = assertThrows(VolumeException.class,
                () -> create(v, true));
        assertEquals(VolumeException.Code.MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, full.code());
        assertEquals(2, v.shadowCopies().size());
    }

    @Test
    void aDeletedCopyIsGoneAndCannotBeRead() throws IOException {
        ManagedVolume v = volume(new SimulatedStorage(4), 8);
        ShadowCopyInfo c = create(v, true);
        assertTrue(v.deleteShadowCopy(c.id()));
        assertFalse(v.deleteShadowCopy(c.id()), "a second delete finds nothing");
        assertEquals(List.of(), v.shadowCopies());
        VolumeException e = assertThrows(VolumeException.class, () -> v.shadowCopy(c.id()));
        assertEquals(VolumeException.Code.OBJECT_NOT_FOUND, e.code());
    }

    @Test
    void aRevertMakesTheVolumeTheCopyAndDeletesLaterCopies() throws IOException {
        ManagedVolume v = volume(new SimulatedStorage(5), 8);
        v.write(0, Segments.of(Segments.filled(8192, 1)), false);
        ShadowCopyInfo first = create(v, true);
        v.write(0, Segments.of(Segments.filled(8192, 2)), false);
        create(v, true);
        v.revert(first.id());
        assertArrayEquals(Segments.filled(8192, 1), VolumeModel.readLive(v, 0, 8192));
        assertEquals(List.of(first.id()), v.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
    }

    @Test
    void persistentCopiesSurviveAReopenAndNonPersistentOnesDoNot() throws IOException {
        SimulatedStorage disk = new SimulatedStorage(6);
        ManagedVolume v = volume(disk, 8);
        v.write(0, Segments.of(Segments.filled(4096, 9)), false);
        ShadowCopyInfo kept = create(v, true);
        create(v, false);
        List<ShadowCopyInfo> released = new ArrayList<>();
        VolumeManager reopened = VolumeManager.open(disk, STATE, new VolumeEvents() {
            @Override
            public void shadowCopyReleased(String volume, ShadowCopyInfo copy, String reason) {
                released.add(copy);
            }
        }, VolumeManager.Tuning.inline(1 << 20), Providers.ALL);
        ManagedVolume after = reopened.get("v");
        assertEquals(List.of(kept.id()), after.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
        assertEquals(1, released.size());
        assertArrayEquals(Segments.filled(4096, 9), VolumeModel.readCopy(after, kept.id(), 0, 4096));
    }

    @Test
    void changeTrackingAnswersOrSaysItCannot() throws IOException {
        ManagedVolume v = volume(new SimulatedStorage(7), 8);
        ShadowCopyInfo c = create(v, true);
        v.write(8192, Segments.of(Segments.filled(4096, 3)), false);
        if (v.trackingSince() > c.sequence()) {
            VolumeException e = assertThrows(VolumeException.class,
                    () -> v.mapChangesSince(c.sequence(), 0, v.size(), (o, l, f) -> true));
            assertEquals(VolumeException.Code.BAD_STATE, e.code());
            return;
        }
        boolean[] changed = dev.shadowcopy.testing.ChangeTracking.changedChunks(v, c.sequence(), v.size(), 4096);
        assertTrue(changed[2], "the written chunk is reported changed");
    }
}
