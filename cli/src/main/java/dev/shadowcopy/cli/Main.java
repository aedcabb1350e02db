package dev.shadowcopy.cli;

import dev.shadowcopy.service.client.ApiException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of {@code bin/shadowcopy}. */
@Command(name = "shadowcopy", mixinStandardHelpOptions = true, version = "shadowcopy 0.1.0",
        description = "Volume shadow copies and live image backups for Linux.",
        subcommands = {QuickstartCommand.class, DaemonCommand.class, ListCommand.class, ShadowCommands.Create.class,
            ShadowCommands.Delete.class, ShadowCommands.Resize.class, ShadowCommands.Revert.class,
            ShadowCommands.Protect.class, ShadowCommands.Expose.class, ShadowCommands.Unexpose.class,
            VolumeCommand.class, ScriptCommand.class, BackupCommand.class, RestoreCommand.class,
            BackupsCommand.class, ScheduleCommand.class, VersionsCommand.class, FilesCommand.class,
            SambaShareCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command line with our error handling (one clear line, non-zero exit). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            if (ex instanceof ApiException a) {
                msg = a.code() + ": " + msg + (a.retryable() ? " (retryable)" : "");
                commandLine.getErr().println("shadowcopy: " + msg);
                return a.retryable() ? 75 : 1;
            }
            commandLine.getErr().println("shadowcopy: " + msg);
            return 1;
        });
        return cl;
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }
}
