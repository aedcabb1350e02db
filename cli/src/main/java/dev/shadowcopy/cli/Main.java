package dev.shadowcopy.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of {@code bin/shadowcopy}. */
@Command(name = "shadowcopy", mixinStandardHelpOptions = true, version = "shadowcopy 0.1.0",
        description = "Volume shadow copies and live image backups for Linux.",
        subcommands = {QuickstartCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command line with our error handling (one clear line, non-zero exit). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            commandLine.getErr().println("shadowcopy: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            return 1;
        });
        return cl;
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }
}
