package dev.shadowcopy.attach.keep;

import dev.shadowcopy.attach.sys.UnixSocket;
import java.io.IOException;

/** sd_notify(3) without libsystemd: READY=1 and STOPPING=1 for a {@code Type=notify} unit. */
public final class Notify {
    private Notify() {}

    /** Sends {@code state} to {@code $NOTIFY_SOCKET} if systemd gave us one; otherwise does nothing. */
    public static void send(String state) {
        String socket = System.getenv("NOTIFY_SOCKET");
        if (socket == null || socket.isEmpty()) {
            return;
        }
        try {
            UnixSocket.sendDatagram(socket, state);
        } catch (IOException | RuntimeException e) {
            System.getLogger(Notify.class.getName()).log(System.Logger.Level.WARNING,
                    "telling systemd {0}: {1}", state, e.getMessage());
        }
    }
}
