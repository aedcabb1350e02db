package dev.shadowcopy.bench;

import dev.shadowcopy.volume.Sizes;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** {@code FillDevice DEVICE SIZE}: writes the benchmarks' image onto a device (for profiling runs by hand). */
public final class FillDevice {
    private FillDevice() {}

    public static void main(String[] args) throws Exception {
        try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.WRITE)) {
            System.out.println(Sizes.format(BenchImage.write(ch, Sizes.parse(args[1]), 1)) + " written");
        }
    }
}
