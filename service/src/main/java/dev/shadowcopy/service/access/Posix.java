package dev.shadowcopy.service.access;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * The two C library calls the doors need and the JDK lacks: {@code umask(2)} and {@code getgrnam(3)} (the
 * members of a group as the system's group database, NSS included, lists them).
 *
 * <p>Thread-safety: {@code getgrnam} returns static storage, so calls are serialised on the class.
 */
final class Posix {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle UMASK = LINKER.downcallHandle(LINKER.defaultLookup().find("umask").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle GETGRNAM = LINKER.downcallHandle(
            LINKER.defaultLookup().find("getgrnam").orElseThrow(), FunctionDescriptor.of(ADDRESS, ADDRESS));
    // struct group on LP64 Linux: char *gr_name; char *gr_passwd; gid_t gr_gid; (pad) char **gr_mem;
    private static final long GR_MEM = 24;

    private Posix() {}

    /** Sets the process's file mode creation mask; returns the previous one. */
    static int umask(int mask) {
        try {
            return (int) UMASK.invokeExact(mask);
        } catch (Throwable t) {
            throw new IllegalStateException("umask failed", t);
        }
    }

    /** The user names listed as members of {@code group}; empty if it has none or does not exist. */
    static synchronized List<String> groupMembers(String group) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment gr = (MemorySegment) GETGRNAM.invokeExact(arena.allocateFrom(group));
            if (gr.equals(MemorySegment.NULL)) {
                return List.of();
            }
            MemorySegment mem = gr.reinterpret(GR_MEM + ADDRESS.byteSize()).get(ADDRESS, GR_MEM);
            List<String> out = new ArrayList<>();
            if (mem.equals(MemorySegment.NULL)) {
                return out;
            }
            for (long i = 0; i < 65_536; i++) {
                MemorySegment name = mem.reinterpret((i + 1) * ADDRESS.byteSize()).getAtIndex(ADDRESS, i);
                if (name.equals(MemorySegment.NULL)) {
                    break;
                }
                out.add(name.reinterpret(Long.MAX_VALUE).getString(0));
            }
            return out;
        } catch (Throwable t) {
            throw new IllegalStateException("getgrnam(" + group + ") failed", t);
        }
    }
}
