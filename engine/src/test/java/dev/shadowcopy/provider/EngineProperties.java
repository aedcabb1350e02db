package dev.shadowcopy.provider;

import dev.shadowcopy.volume.VolumeLayout;
import java.io.IOException;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * Random sequences of writes, trims, flushes, shadow copy creations, deletions, reverts, checkpoints, clean
 * reopens, simulated crashes and injected I/O faults, run against each software provider's real engine on
 * {@link SimulatedStorage} and checked against {@link VolumeModel}: every shadow copy reads back exactly, every flushed write survives.
 * A failure prints the operations and the seed; jqwik shrinks it.
 */
class EngineProperties {
    @Provide
    Arbitrary<List<ModelRun.Op>> ops() {
        Arbitrary<Double> frac = Arbitraries.doubles().between(0, 1);
        Arbitrary<ModelRun.Op> op = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(12, Combinators.combine(frac, frac, Arbitraries.integers())
                        .as((a, l, s) -> (ModelRun.Op) new ModelRun.Write(a, l, s))),
                net.jqwik.api.Tuple.of(2, Combinators.combine(frac, frac).as((a, l) -> (ModelRun.Op) new ModelRun.Trim(a, l))),
                net.jqwik.api.Tuple.of(2, Combinators.combine(frac, Arbitraries.integers().between(2, 24),
                        Arbitraries.integers()).as((a, n, s) -> (ModelRun.Op) new ModelRun.Stream(a, n, s))),
                net.jqwik.api.Tuple.of(2, Combinators.combine(frac, frac, Arbitraries.of(true, false))
                        .as((a, l, d) -> (ModelRun.Op) new ModelRun.Zero(a, l, d))),
                net.jqwik.api.Tuple.of(3, Arbitraries.just(new ModelRun.Flush())),
                net.jqwik.api.Tuple.of(5, Arbitraries.of(true, true, false).map(p -> (ModelRun.Op) new ModelRun.Create(p))),
                net.jqwik.api.Tuple.of(2, Arbitraries.integers().between(0, 50).map(w -> (ModelRun.Op) new ModelRun.Delete(w))),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0, 50).map(w -> (ModelRun.Op) new ModelRun.Revert(w))),
                net.jqwik.api.Tuple.of(3, Combinators.combine(Arbitraries.integers().between(0, 50), frac, frac)
                        .as((w, a, l) -> (ModelRun.Op) new ModelRun.ReadCopy(w, a, l))),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(new ModelRun.Reopen())),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(new ModelRun.Crash())),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(new ModelRun.Checkpoint())),
                net.jqwik.api.Tuple.of(2, Arbitraries.integers().between(1, 12).map(n -> (ModelRun.Op) new ModelRun.Fault(n))));
        return op.list().ofMinSize(5).ofMaxSize(60);
    }

    @Property(tries = 300)
    void copyOnWriteKeepsEveryCopyExactAndFlushedWrites(@ForAll("ops") List<ModelRun.Op> ops,
                                                        @ForAll ModelRun.Shape shape,
                                                        @ForAll @IntRange(min = 0, max = 1_000_000) int seed)
            throws IOException {
        new ModelRun.Run(shape, VolumeLayout.COPY_ON_WRITE, seed).execute(ops);
    }

    @Property(tries = 300)
    void redirectOnWriteKeepsEveryCopyExactAndFlushedWrites(@ForAll("ops") List<ModelRun.Op> ops,
                                                            @ForAll ModelRun.Shape shape,
                                                            @ForAll @IntRange(min = 0, max = 1_000_000) int seed)
            throws IOException {
        new ModelRun.Run(shape, VolumeLayout.REDIRECT_ON_WRITE, seed).execute(ops);
    }

    /**
     * The same with the background work on real threads (merges, periodic commits, checkpoints, slot
     * preparation) racing the operations, and crashes landing in the middle of it: not reproducible by seed,
     * but the races a single-threaded run cannot show.
     */
    @Property(tries = 150)
    void copyOnWriteWithBackgroundWork(@ForAll("ops") List<ModelRun.Op> ops, @ForAll ModelRun.Shape shape,
                                       @ForAll @IntRange(min = 0, max = 1_000_000) int seed) throws IOException {
        new ModelRun.Run(shape, VolumeLayout.COPY_ON_WRITE, seed, true).execute(ops);
    }

    @Property(tries = 300)
    void redirectOnWriteWithBackgroundWork(@ForAll("ops") List<ModelRun.Op> ops, @ForAll ModelRun.Shape shape,
                                           @ForAll @IntRange(min = 0, max = 1_000_000) int seed) throws IOException {
        new ModelRun.Run(shape, VolumeLayout.REDIRECT_ON_WRITE, seed, true).execute(ops);
    }

    @Property(tries = 150)
    void splitMirrorKeepsEveryCopyExactAndFlushedWrites(@ForAll("ops") List<ModelRun.Op> ops,
                                                        @ForAll ModelRun.Shape shape,
                                                        @ForAll @IntRange(min = 0, max = 1_000_000) int seed)
            throws IOException {
        new ModelRun.Run(shape, VolumeLayout.SPLIT_MIRROR, seed).execute(ops);
    }

    @Property(tries = 150)
    void reflinkKeepsEveryCopyExactAndFlushedWrites(@ForAll("ops") List<ModelRun.Op> ops,
                                                    @ForAll ModelRun.Shape shape,
                                                    @ForAll @IntRange(min = 0, max = 1_000_000) int seed)
            throws IOException {
        new ModelRun.Run(shape, VolumeLayout.REFLINK, seed).execute(ops);
    }

}
