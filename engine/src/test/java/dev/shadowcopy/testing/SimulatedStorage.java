package dev.shadowcopy.testing;

import dev.shadowcopy.platform.CloneUnsupportedException;
import dev.shadowcopy.platform.NoSpaceException;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * An in-memory disk for crash and fault tests of the real engine (STYLE 17: Lucene's MockDirectoryWrapper).
 *
 * <ul>
 *   <li>File contents are durable only after {@link StorageFile#sync()}; names only after
 *       {@link #syncDirectory} of their directory (delete syncs, as its contract says).</li>
 *   <li>{@link #crash()} forgets everything not durable — except that each unsynced 512-byte sector
 *       independently may or may not have reached the disk, as kernel write-back may do — and invalidates
 *       every open handle, so an abandoned engine can no longer touch the disk.</li>
 *   <li>{@link #failAt(long)} makes the N-th mutating operation throw (every N reproduces by seed);
 *       {@link #setCapacity(long)} makes allocations beyond a byte budget fail with ENOSPC.</li>
 * </ul>
 * Thread-safe: one lock serialises everything (tests care about ordering, not speed).
 */
public final class SimulatedStorage implements Storage {
    private static final int SECTOR = 512;
    private static final int PAGE = 4096;

    private final Random random;
    private final Object lock = new Object();
    private Map<Path, Inode> names = new HashMap<>();
    private Map<Path, Inode> durableNames = new HashMap<>();
    private final TreeSet<Path> dirs = new TreeSet<>();
    private int generation;
    private long operations;
    private long failAt = -1;
    private long capacity = Long.MAX_VALUE;
    private boolean failed;
    private long faults;
    private java.util.function.Predicate<Path> noSpaceFiles;
    private int noSpaceWrites;
    private java.util.function.Predicate<Path> pauseSyncOf;
    private Runnable onPausedSync;
    private boolean clones = true;

    public SimulatedStorage(long seed) {
        this.random = new Random(seed);
        dirs.add(Path.of("/"));
    }

    /** The {@code n}-th mutating operation from now (1 = the next) throws an IOException. */
    public void failAt(long n) {
        synchronized (lock) {
            failAt = operations + n;
        }
    }

    /** Mutating operations so far (to pick fault points). */
    public long operations() {
        synchronized (lock) {
            return operations;
        }
    }

    /** Injected faults fired so far. */
    public long faults() {
        synchronized (lock) {
            return faults;
        }
    }

    /** True once an injected fault fired. */
    public boolean faultFired() {
        synchronized (lock) {
            return failed;
        }
    }

    /** Total allocated bytes (4 KiB pages over all files) beyond which writes fail with ENOSPC. */
    public void setCapacity(long bytes) {
        synchronized (lock) {
            capacity = bytes;
        }
    }

    /**
     * The next {@code count} writes to files {@code which} accepts fail with ENOSPC whatever the capacity: a file
     * system that is full at an exact moment, for races.
     */
    public void noSpaceOnWrites(java.util.function.Predicate<Path> which, int count) {
        synchronized (lock) {
            noSpaceFiles = which;
            noSpaceWrites = count;
        }
    }

    /**
     * The next sync of a file {@code which} accepts first runs {@code action} on the syncing thread, outside the
     * disk's lock (a test holds the thread there, with whatever locks it has, to force an interleaving).
     */
    public void beforeNextSync(java.util.function.Predicate<Path> which, Runnable action) {
        synchronized (lock) {
            pauseSyncOf = which;
            onPausedSync = action;
        }
    }

    /**
     * From now on {@link #clone} is refused as on a file system without reflink support (ext4): for the paths that
     * must work without it.
     */
    public void refuseClones() {
        synchronized (lock) {
            clones = false;
        }
    }

    /** Simulates power loss: keeps what was durable plus a random subset of unsynced sectors. */
    public void crash() {
        synchronized (lock) {
            generation++;
            failAt = -1;
            Map<Path, Inode> survivors = new HashMap<>();
            Map<Inode, Inode> remap = new HashMap<>();
            for (Map.Entry<Path, Inode> e : durableNames.entrySet()) {
                Inode after = remap.computeIfAbsent(e.getValue(), this::afterCrash);
                survivors.put(e.getKey(), after);
            }
            names = survivors;
            durableNames = new HashMap<>(survivors);
        }
    }

    private Inode afterCrash(Inode inode) {
        Inode out = new Inode();
        out.durable = new TreeMap<>();
        // start from the durable image, then let each dirty sector survive with probability 1/2
        for (Map.Entry<Long, byte[]> p : inode.durable.entrySet()) {
            out.durable.put(p.getKey(), p.getValue().clone());
        }
        long size = random.nextBoolean() ? inode.durableSize : inode.size;
        for (Map.Entry<Long, byte[]> p : inode.pages.entrySet()) {
            byte[] durablePage = inode.durable.get(p.getKey());
            byte[] current = p.getValue();
            for (int s = 0; s < PAGE; s += SECTOR) {
                boolean differs = durablePage == null || !java.util.Arrays.equals(durablePage, s, s + SECTOR, current, s,
                        s + SECTOR);
                if (differs && random.nextBoolean()) {
                    byte[] target = out.durable.computeIfAbsent(p.getKey(), k -> new byte[PAGE]);
                    System.arraycopy(current, s, target, s, SECTOR);
                }
            }
        }
        // pages punched since the last sync may be gone or not
        for (Long k : new ArrayList<>(out.durable.keySet())) {
            if (!inode.pages.containsKey(k) && random.nextBoolean()) {
                out.durable.remove(k);
            }
        }
        out.durableSize = size;
        out.size = size;
        out.pages = new TreeMap<>();
        for (Map.Entry<Long, byte[]> p : out.durable.entrySet()) {
            out.pages.put(p.getKey(), p.getValue().clone());
        }
        return out;
    }

    private void mutate(String what, Path path) throws IOException {
        operations++;
        if (operations == failAt) {
            failed = true;
            faults++;
            throw new IOException("injected fault at operation " + operations + " (" + what + " " + path + ")");
        }
    }

    @Override
    public StorageFile open(Path path, OpenMode mode) throws IOException {
        synchronized (lock) {
            Path p = path.toAbsolutePath().normalize();
            Inode inode = names.get(p);
            switch (mode) {
                case READ, READ_WRITE -> {
                    if (inode == null) {
                        throw new NoSuchFileException(p.toString());
                    }
                }
                case CREATE, CREATE_NEW -> {
                    if (inode != null && mode == OpenMode.CREATE_NEW) {
                        throw new FileAlreadyExistsException(p.toString());
                    }
                    if (inode == null) {
                        requireDir(p.getParent());
                        mutate("create", p);
                        inode = new Inode();
                        names.put(p, inode);
                    }
                }
            }
            return new Handle(p, inode, generation, mode == OpenMode.READ);
        }
    }

    private void requireDir(Path dir) throws IOException {
        if (!dirs.contains(dir)) {
            throw new NoSuchFileException(dir + " (no such directory)");
        }
    }

    @Override
    public boolean exists(Path path) {
        synchronized (lock) {
            Path p = path.toAbsolutePath().normalize();
            return names.containsKey(p) || dirs.contains(p);
        }
    }

    @Override
    public boolean isDirectory(Path path) {
        synchronized (lock) {
            return dirs.contains(path.toAbsolutePath().normalize());
        }
    }

    @Override
    public void createDirectories(Path dir) {
        synchronized (lock) {
            for (Path p = dir.toAbsolutePath().normalize(); p != null; p = p.getParent()) {
                dirs.add(p); // directories themselves are durable at once (tests do not crash mkdir)
            }
        }
    }

    @Override
    public void delete(Path path) throws IOException {
        synchronized (lock) {
            Path p = path.toAbsolutePath().normalize();
            if (names.containsKey(p)) {
                mutate("delete", p);
                names.remove(p);
                durableNames.remove(p);
            } else if (dirs.contains(p)) {
                boolean empty = names.keySet().stream().noneMatch(n -> n.startsWith(p))
                        && dirs.tailSet(p, false).stream().noneMatch(d -> d.startsWith(p));
                if (!empty) {
                    throw new IOException(p + ": directory not empty");
                }
                dirs.remove(p);
            }
        }
    }

    @Override
    public void rename(Path from, Path to) throws IOException {
        synchronized (lock) {
            Path f = from.toAbsolutePath().normalize();
            Path t = to.toAbsolutePath().normalize();
            Inode inode = names.get(f);
            if (inode == null) {
                throw new NoSuchFileException(f.toString());
            }
            mutate("rename", f);
            names.remove(f);
            names.put(t, inode);
        }
    }

    @Override
    public void syncDirectory(Path dir) throws IOException {
        synchronized (lock) {
            Path d = dir.toAbsolutePath().normalize();
            mutate("syncdir", d);
            durableNames.keySet().removeIf(p -> d.equals(p.getParent()) && !names.containsKey(p));
            for (Map.Entry<Path, Inode> e : names.entrySet()) {
                if (d.equals(e.getKey().getParent())) {
                    durableNames.put(e.getKey(), e.getValue());
                }
            }
        }
    }

    @Override
    public List<String> list(Path dir) throws IOException {
        synchronized (lock) {
            Path d = dir.toAbsolutePath().normalize();
            if (!dirs.contains(d)) {
                throw new NoSuchFileException(d.toString());
            }
            TreeSet<String> out = new TreeSet<>();
            for (Path p : names.keySet()) {
                if (d.equals(p.getParent())) {
                    out.add(p.getFileName().toString());
                }
            }
            for (Path p : dirs) {
                if (d.equals(p.getParent())) {
                    out.add(p.getFileName().toString());
                }
            }
            return new ArrayList<>(out);
        }
    }

    /**
     * A clone is one mutating operation that gives the target the source's current pages and size; like a write,
     * none of it is durable before the target is synced (after a crash each of its unsynced sectors survives or
     * not). Extents are not shared in memory, so the capacity counts a clone's pages twice.
     */
    @Override
    public void clone(Path source, Path target) throws IOException {
        synchronized (lock) {
            Path s = source.toAbsolutePath().normalize();
            Path t = target.toAbsolutePath().normalize();
            Inode from = names.get(s);
            if (from == null) {
                throw new NoSuchFileException(s.toString());
            }
            requireDir(t.getParent());
            if (!clones) {
                throw new CloneUnsupportedException("ioctl(FICLONE from " + s + ")", t.toString(), 95);
            }
            mutate("clone", t);
            Inode to = names.computeIfAbsent(t, k -> new Inode());
            if (to == from) {
                return;
            }
            TreeMap<Long, byte[]> pages = new TreeMap<>();
            for (Map.Entry<Long, byte[]> p : from.pages.entrySet()) {
                pages.put(p.getKey(), p.getValue().clone());
            }
            to.pages = pages;
            to.size = from.size;
        }
    }

    /** Everything written and every name on the (one simulated) file system becomes durable. */
    @Override
    public void syncFileSystem(Path path) throws IOException {
        synchronized (lock) {
            mutate("syncfs", path.toAbsolutePath().normalize());
            java.util.Set<Inode> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            for (Inode i : names.values()) {
                if (seen.add(i)) {
                    i.makeDurable();
                }
            }
            durableNames = new HashMap<>(names);
        }
    }

    private long allocatedBytes() {
        java.util.Set<Inode> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        long total = 0;
        for (Inode i : names.values()) {
            if (seen.add(i)) {
                total += (long) i.pages.size() * PAGE;
            }
        }
        return total;
    }

    /** A file's contents: sparse pages, current and durable. */
    private static final class Inode {
        TreeMap<Long, byte[]> pages = new TreeMap<>();
        TreeMap<Long, byte[]> durable = new TreeMap<>();
        long size;
        long durableSize;

        void makeDurable() {
            durable = new TreeMap<>();
            for (Map.Entry<Long, byte[]> p : pages.entrySet()) {
                durable.put(p.getKey(), p.getValue().clone());
            }
            durableSize = size;
        }
    }

    private final class Handle implements StorageFile {
        private final Path path;
        private final Inode inode;
        private final int openedIn;
        private final boolean readOnly;

        Handle(Path path, Inode inode, int openedIn, boolean readOnly) {
            this.path = path;
            this.inode = inode;
            this.openedIn = openedIn;
            this.readOnly = readOnly;
        }

        private void check(boolean writing) throws IOException {
            if (openedIn != generation) {
                throw new IOException(path + ": handle from before a simulated crash");
            }
            if (writing && readOnly) {
                throw new IOException(path + ": opened read-only");
            }
        }

        @Override
        public String name() {
            return path.toString();
        }

        @Override
        public long size() throws IOException {
            synchronized (lock) {
                check(false);
                return inode.size;
            }
        }

        @Override
        public boolean isBlockDevice() {
            return false;
        }

        @Override
        public void read(long position, MemorySegment dst) throws IOException {
            synchronized (lock) {
                check(false);
                long n = dst.byteSize();
                long done = 0;
                while (done < n) {
                    long pos = position + done;
                    long page = pos / PAGE;
                    int in = (int) (pos % PAGE);
                    int len = (int) Math.min(PAGE - in, n - done);
                    byte[] p = pos >= inode.size ? null : inode.pages.get(page);
                    if (p == null) {
                        dst.asSlice(done, len).fill((byte) 0);
                    } else {
                        MemorySegment.copy(p, in, dst, ValueLayout.JAVA_BYTE, done, len);
                        if (pos + len > inode.size) {
                            long beyond = pos + len - inode.size;
                            dst.asSlice(done + len - beyond, beyond).fill((byte) 0);
                        }
                    }
                    done += len;
                }
            }
        }

        @Override
        public void write(long position, MemorySegment src) throws IOException {
            synchronized (lock) {
                if (noSpaceWrites > 0 && noSpaceFiles.test(path)) {
                    noSpaceWrites--;
                    throw new NoSpaceException("pwrite", path.toString(), 28);
                }
            }
            synchronized (lock) {
                check(true);
                mutate("write", path);
                long n = src.byteSize();
                long newPages = 0;
                for (long page = position / PAGE; page <= (position + n - 1) / PAGE && n > 0; page++) {
                    if (!inode.pages.containsKey(page)) {
                        newPages++;
                    }
                }
                if (allocatedBytes() + newPages * PAGE > capacity) {
                    throw new NoSpaceException("pwrite", path.toString(), 28);
                }
                long done = 0;
                while (done < n) {
                    long pos = position + done;
                    int in = (int) (pos % PAGE);
                    int len = (int) Math.min(PAGE - in, n - done);
                    byte[] p = inode.pages.computeIfAbsent(pos / PAGE, k -> new byte[PAGE]);
                    MemorySegment.copy(src, ValueLayout.JAVA_BYTE, done, p, in, len);
                    done += len;
                }
                inode.size = Math.max(inode.size, position + n);
            }
        }

        @Override
        public void sync() throws IOException {
            Runnable paused = null;
            synchronized (lock) {
                if (onPausedSync != null && pauseSyncOf.test(path)) {
                    paused = onPausedSync;
                    onPausedSync = null;
                }
            }
            if (paused != null) {
                paused.run();
            }
            synchronized (lock) {
                check(false);
                mutate("sync", path);
                inode.makeDurable();
            }
        }

        @Override
        public void punchHole(long position, long length) throws IOException {
            synchronized (lock) {
                check(true);
                mutate("punch", path);
                zeroBytes(position, length, true);
            }
        }

        @Override
        public void allocate(long position, long length) throws IOException {
            synchronized (lock) {
                check(true);
                mutate("allocate", path);
                long newPages = 0;
                for (long page = position / PAGE; page <= (position + length - 1) / PAGE && length > 0; page++) {
                    if (!inode.pages.containsKey(page)) {
                        newPages++;
                    }
                }
                if (allocatedBytes() + newPages * PAGE > capacity) {
                    throw new NoSpaceException("fallocate", path.toString(), 28);
                }
                zeroBytes(position, length, false);
                inode.size = Math.max(inode.size, position + length);
            }
        }

        @Override
        public void zeroRange(long position, long length) throws IOException {
            synchronized (lock) {
                check(true);
                mutate("zero", path);
                zeroBytes(position, length, false);
                inode.size = Math.max(inode.size, position + length);
            }
        }

        private void zeroBytes(long position, long length, boolean deallocate) {
            long end = position + length;
            for (long pos = position; pos < end; ) {
                long page = pos / PAGE;
                int in = (int) (pos % PAGE);
                int len = (int) Math.min(PAGE - in, end - pos);
                if (deallocate && in == 0 && len == PAGE) {
                    inode.pages.remove(page);
                } else {
                    byte[] p = inode.pages.get(page);
                    if (p == null && !deallocate) {
                        p = new byte[PAGE];
                        inode.pages.put(page, p);
                    }
                    if (p != null) {
                        java.util.Arrays.fill(p, in, in + len, (byte) 0);
                    }
                }
                pos += len;
            }
        }

        @Override
        public long nextData(long position) throws IOException {
            synchronized (lock) {
                check(false);
                Long page = inode.pages.ceilingKey(position / PAGE);
                if (page == null || page * PAGE >= inode.size) {
                    return -1;
                }
                return Math.max(position, page * PAGE);
            }
        }

        @Override
        public long nextHole(long position) throws IOException {
            synchronized (lock) {
                check(false);
                long page = position / PAGE;
                while (inode.pages.containsKey(page) && page * PAGE < inode.size) {
                    page++;
                }
                return Math.min(inode.size, Math.max(position, page * PAGE));
            }
        }

        @Override
        public void truncate(long size) throws IOException {
            synchronized (lock) {
                check(true);
                mutate("truncate", path);
                inode.pages.tailMap((size + PAGE - 1) / PAGE, true).clear();
                if (size % PAGE != 0) {
                    byte[] last = inode.pages.get(size / PAGE);
                    if (last != null) {
                        java.util.Arrays.fill(last, (int) (size % PAGE), PAGE, (byte) 0);
                    }
                }
                inode.size = size;
            }
        }

        @Override
        public void close() {
            // nothing to release
        }
    }
}
