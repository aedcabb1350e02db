package dev.shadowcopy.provider;

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
import dev.shadowcopy.volume.VolumeLayout;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * For each operation that changes durable state, fail the N-th storage operation inside it for every N,
 * then simulate a power loss (unsynced sectors survive at random, several seeds) and check the model
 * (STYLE 17). This is the systematic counterpart of the random {@link EngineProperties}.
 */
class EngineCrashPointTest {
    private static final int SEEDS = 3;

    static Stream<Arguments> scenarios() {
        List<Op> base = List.of(new Write(0.0, 1.0, 1), new Write(0.4, 1.0, 2), new Flush());
        return Stream.of(
                Arguments.of("first write after a copy", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true)), new Write(0.0, 0.9, 7)),
                Arguments.of("sequential stream preserving ahead", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new ModelRun.Stream(0.0, 3, 1)), new ModelRun.Stream(0.12, 4, 2)),
                Arguments.of("write into a hole after a copy", Shape.SMALL_CHUNKS,
                        List.of(new Create(true)), new Write(0.3, 0.8, 3)),
                Arguments.of("create a copy", Shape.SMALL_CHUNKS, cat(base, new Write(0.1, 0.2, 4)), new Create(true)),
                Arguments.of("delete the older of two copies", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new Write(0.0, 0.7, 5), new Create(true), new Write(0.0, 1.0, 6)),
                        new Delete(0)),
                Arguments.of("revert to the first copy", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new Write(0.0, 0.7, 5), new Create(true), new Write(0.2, 1.0, 6)),
                        new Revert(0)),
                Arguments.of("trim after a copy", Shape.SMALL_CHUNKS, cat(base, new Create(true)), new Trim(0.1, 1.0)),
                Arguments.of("zero after a copy", Shape.SMALL_CHUNKS, cat(base, new Create(true)),
                        new Zero(0.0, 1.0, false)),
                Arguments.of("checkpoint", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new Write(0.0, 0.5, 8), new Create(false)), new Checkpoint()),
                Arguments.of("clean reopen", Shape.SMALL_CHUNKS,
                        cat(base, new Create(true), new Write(0.0, 0.5, 8), new Create(false)), new Reopen()),
                Arguments.of("write that must release the oldest copy", Shape.LIMITED_STORAGE,
                        cat(List.of(new Write(0.0, 1.0, 1), new Write(0.5, 1.0, 2)), new Create(true),
                                new Write(0.0, 1.0, 3), new Write(0.1, 1.0, 3), new Write(0.2, 1.0, 3),
                                new Write(0.3, 1.0, 3), new Write(0.4, 1.0, 3), new Create(true)),
                        new Write(0.6, 1.0, 9)));
    }

    static Stream<Arguments> scenariosPerLayout() {
        return scenarios().flatMap(a -> Stream.of(VolumeLayout.COPY_ON_WRITE, VolumeLayout.REDIRECT_ON_WRITE)
                .map(layout -> {
                    Object[] x = a.get();
                    return Arguments.of(layout.shortName() + ": " + x[0], x[1], x[2], x[3], layout);
                }));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scenariosPerLayout")
    void everyFaultPointRecoversToTheModel(String name, Shape shape, List<Op> prefix, Op victim, VolumeLayout layout)
            throws IOException {
        ModelRun.Run probe = new ModelRun.Run(shape, layout, 1);
        probe.executeWithoutFinalCrash(prefix);
        long before = probe.disk.operations();
        probe.apply(victim);
        long points = probe.disk.operations() - before;
        for (int n = 1; n <= points; n++) {
            for (int seed = 0; seed < SEEDS; seed++) {
                List<Op> script = new ArrayList<>(prefix);
                script.add(new Fault(n));
                script.add(victim);
                try {
                    new ModelRun.Run(shape, layout, 1000L * n + seed).execute(script);
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
}
