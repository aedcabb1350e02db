package dev.shadowcopy.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The training run of the command line's ahead-of-time cache (JDK 25, {@code -XX:AOTCacheOutput}; made by
 * {@code bin/shadowcopy} after each build): what every command does before its real work, done once, so that the
 * classes it loads and links, and the methods' profiles, are in the cache. Every command's usage is rendered, and
 * {@code volume list} runs against a stand-in daemon on a private socket (the client, HTTP, JSON and table paths).
 * A user runs a command in about half a second less with the cache; what a command does is the same without it.
 */
@Command(name = "aot-training", hidden = true, description = "Training run of the AOT cache (bin/shadowcopy).")
final class AotTrainingCommand implements Callable<Integer> {
    private static final String VOLUMES = "{\"volumes\":[{\"name\":\"v\",\"size\":1073741824,\"chunk_size\":65536,"
            + "\"layout\":\"cow\",\"attached\":\"/dev/loop0\",\"via\":\"fuse\",\"copies\":1,\"used\":4096}]}";

    @Override
    public Integer call() throws Exception {
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        CommandLine cl = Main.commandLine();
        render(cl, new PrintWriter(quiet));
        Path dir = Files.createTempDirectory("shadowcopy-aot-");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(dir.resolve("shadowcopy.sock")));
            Thread daemon = Thread.ofPlatform().daemon().start(() -> answer(server));
            String[] args = {"volume", "list", "--state", dir.toString()};
            CommandLine run = Main.commandLineFor(args);
            run.setOut(new PrintWriter(quiet));
            run.setErr(new PrintWriter(quiet));
            PrintStream out = System.out;
            System.setOut(quiet);
            try {
                run.execute(args);
            } finally {
                System.setOut(out);
            }
            daemon.join(5_000);
        } finally {
            QuickstartCommand.deleteTree(dir);
        }
        return 0;
    }

    private static void render(CommandLine cl, PrintWriter out) {
        cl.usage(out);
        for (CommandLine sub : cl.getSubcommands().values()) {
            render(sub, out);
        }
    }

    /** One request, one JSON answer, as the daemon gives them. */
    private static void answer(ServerSocketChannel server) {
        try (SocketChannel c = server.accept()) {
            ByteBuffer in = ByteBuffer.allocate(16 << 10);
            String seen = "";
            while (!seen.contains("\r\n\r\n") && c.read(in) > 0) {
                seen = new String(in.array(), 0, in.position(), StandardCharsets.ISO_8859_1);
            }
            byte[] body = VOLUMES.getBytes(StandardCharsets.UTF_8);
            String head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                    + "\r\nConnection: close\r\n\r\n";
            c.write(ByteBuffer.wrap(head.getBytes(StandardCharsets.ISO_8859_1)));
            c.write(ByteBuffer.wrap(body));
        } catch (IOException e) {
            // a training run: whatever it loaded is in the cache; nothing to report
        }
    }
}
