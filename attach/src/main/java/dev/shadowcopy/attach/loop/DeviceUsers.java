package dev.shadowcopy.attach.loop;

import dev.shadowcopy.attach.sys.Linux;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Who uses a block device, so that nothing pulls it from under them: file systems mounted from it (or from
 * its partitions), stacked devices (dm, md: {@code holders/}), swap, and processes that hold it open. What
 * none of these shows — a mount in another mount namespace — the kernel still reveals: an exclusive open
 * (O_EXCL) of a claimed block device fails with EBUSY.
 *
 * <p>Each use is one line a person can act on: {@code mounted on /mnt/data (ext4)}, {@code open by pid 4242
 * (postgres)}, {@code used by dm-0}.
 */
public final class DeviceUsers {
    private DeviceUsers() {}

    /** The uses of {@code device} (e.g. /dev/loop3); empty if nothing uses it. */
    public static List<String> of(String device) throws IOException {
        Set<String> uses = new LinkedHashSet<>();
        String name = Path.of(device).getFileName().toString();
        Path sys = Path.of("/sys/block", name);
        List<String> devNumbers = new ArrayList<>();
        List<String> names = new ArrayList<>(List.of(name));
        devNumbers.add(read(sys.resolve("dev")));
        if (Files.isDirectory(sys)) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(sys, name + "p*")) {
                for (Path part : ds) {
                    devNumbers.add(read(part.resolve("dev")));
                    names.add(part.getFileName().toString());
                    holders(part, uses);
                }
            }
        }
        holders(sys, uses);
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            String[] f = line.split(" ");
            int dash = indexOf(f, "-");
            if (dash > 4 && devNumbers.contains(f[2])) {
                uses.add("mounted on " + unescape(f[4]) + " (" + f[dash + 1] + ")");
            }
        }
        for (String line : Files.readAllLines(Path.of("/proc/swaps"), StandardCharsets.UTF_8)) {
            String dev = line.split("\\s+")[0];
            if (names.stream().anyMatch(n -> dev.equals("/dev/" + n))) {
                uses.add("used as swap (" + dev + ")");
            }
        }
        openBy(names, uses);
        if (uses.isEmpty() && claimed(device)) {
            uses.add("claimed by the kernel (mounted in another mount namespace, or used by device-mapper, md or "
                    + "swap)");
        }
        return List.copyOf(uses);
    }

    /** Mount points of file systems mounted from {@code device} in this mount namespace. */
    public static List<String> mountPoints(String device) throws IOException {
        List<String> out = new ArrayList<>();
        String dev = read(Path.of("/sys/block", Path.of(device).getFileName().toString(), "dev"));
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            String[] f = line.split(" ");
            // btrfs shows an anonymous device number (0:NN) in field 3: its mounts are known by their source
            int dash = line.indexOf(" - ");
            String[] tail = dash < 0 ? new String[0] : line.substring(dash + 3).split(" ");
            if (f.length > 4 && (f[2].equals(dev) || (tail.length > 1 && unescape(tail[1]).equals(device)))) {
                out.add(unescape(f[4]));
            }
        }
        return out;
    }

    private static void holders(Path sys, Set<String> uses) throws IOException {
        Path h = sys.resolve("holders");
        if (!Files.isDirectory(h)) {
            return;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(h)) {
            for (Path p : ds) {
                uses.add("used by " + p.getFileName());
            }
        }
    }

    private static void openBy(List<String> names, Set<String> uses) throws IOException {
        long self = ProcessHandle.current().pid();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString()
                .chars().allMatch(Character::isDigit))) {
            for (Path proc : procs) {
                long pid = Long.parseLong(proc.getFileName().toString());
                if (pid == self) {
                    continue;
                }
                try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
                    for (Path fd : fds) {
                        String target;
                        try {
                            target = Files.readSymbolicLink(fd).toString();
                        } catch (IOException e) {
                            continue; // closed meanwhile
                        }
                        if (names.stream().anyMatch(n -> target.equals("/dev/" + n))) {
                            uses.add("open by pid " + pid + " (" + comm(proc) + ")");
                            break;
                        }
                    }
                } catch (IOException | SecurityException e) {
                    // the process ended, or is not ours to look at
                }
            }
        }
    }

    private static boolean claimed(String device) {
        int fd = Linux.open(device, Linux.O_RDONLY | Linux.O_EXCL | Linux.O_CLOEXEC);
        if (fd >= 0) {
            Linux.close(fd);
            return false;
        }
        return Linux.errno() == Linux.EBUSY;
    }

    private static String comm(Path proc) {
        try {
            return Files.readAllLines(proc.resolve("comm")).getFirst().strip();
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    private static String read(Path p) throws IOException {
        try {
            return Files.readAllLines(p).getFirst().strip();
        } catch (java.nio.file.NoSuchFileException e) {
            return "";
        }
    }

    private static int indexOf(String[] a, String s) {
        for (int i = 0; i < a.length; i++) {
            if (a[i].equals(s)) {
                return i;
            }
        }
        return -1;
    }

    /** Undoes mountinfo's octal escapes ({@code \040} for a space). */
    public static String unescape(String field) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length()) {
                sb.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
