package dev.shadowcopy.attach.keep;

import dev.shadowcopy.attach.sys.Linux;
import dev.shadowcopy.attach.sys.UnixSocket;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * systemd's file-descriptor store (systemd.service(5), {@code FileDescriptorStoreMax=}): descriptors sent
 * with {@code FDSTORE=1} over {@code $NOTIFY_SOCKET} are kept by systemd while the service restarts (and,
 * with {@code FileDescriptorStorePreserve=yes}, while it is stopped) and passed to the next start as
 * {@code $LISTEN_FDS} from descriptor 3 on, named by {@code $LISTEN_FDNAMES}.
 *
 * <p>Chosen when systemd runs the service with the store enabled ({@code $NOTIFY_SOCKET} and
 * {@code $FDSTORE} set). Under systemd a holder process would be no use: stopping the unit kills every
 * process of its cgroup, a holder included.
 */
public final class SystemdStore implements DescriptorStore {
    private final String notifySocket;
    private final Map<String, String> env;

    public SystemdStore(String notifySocket, Map<String, String> env) {
        this.notifySocket = notifySocket;
        this.env = env;
    }

    /** True if systemd runs us with the descriptor store enabled. */
    public static boolean available(Map<String, String> env) {
        String max = env.get("FDSTORE");
        try {
            return env.get("NOTIFY_SOCKET") != null && max != null && Integer.parseInt(max.strip()) > 0;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    @Override
    public Map<String, Integer> adopt() throws IOException {
        Map<String, Integer> out = new LinkedHashMap<>();
        String pid = env.get("LISTEN_PID");
        String count = env.get("LISTEN_FDS");
        if (pid == null || count == null || !pid.strip().equals(Long.toString(ProcessHandle.current().pid()))) {
            return out;
        }
        int n = Integer.parseInt(count.strip());
        String[] names = env.getOrDefault("LISTEN_FDNAMES", "").split(":", -1);
        for (int i = 0; i < n; i++) {
            int fd = 3 + i;
            Linux.setCloexec(fd, true); // programs we start must not hold connections
            String name = i < names.length ? names[i] : "";
            if (name.isEmpty() || out.containsKey(name)) {
                Linux.close(fd); // not one of ours, or a duplicate: systemd keeps its copy until removed
                continue;
            }
            out.put(name, fd);
        }
        return out;
    }

    @Override
    public void put(String name, int fd) throws IOException {
        DescriptorStore.checkName(name);
        // systemd keeps every descriptor sent under a name: drop an older one first
        UnixSocket.sendDatagram(notifySocket, "FDSTOREREMOVE=1\nFDNAME=" + name);
        UnixSocket.sendDatagram(notifySocket, "FDSTORE=1\nFDNAME=" + name, fd);
    }

    @Override
    public void remove(String name) throws IOException {
        UnixSocket.sendDatagram(notifySocket, "FDSTOREREMOVE=1\nFDNAME=" + name);
    }

    @Override
    public String describe() {
        return "systemd file-descriptor store";
    }

    @Override
    public void close() {}
}
