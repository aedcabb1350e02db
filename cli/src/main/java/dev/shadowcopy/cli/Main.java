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
            SambaShareCommand.class, AotTrainingCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        System.exit(commandLineFor(args).execute(args));
    }

    /** The command line with our error handling (one clear line, non-zero exit). */
    public static CommandLine commandLine() {
        return handled(new CommandLine(new Main()));
    }

    /**
     * The command line a run needs: for {@code shadowcopy NAME …} only command NAME's tree. Building every command's
     * model from its annotations is most of a command's start-up time (a quarter of a second), and a command is run
     * far more often than the whole list is shown. Anything else (no command, an option first, an unknown name)
     * gets the whole tree, so help and errors are as they were.
     */
    static CommandLine commandLineFor(String[] args) {
        if (args.length > 0 && !args[0].startsWith("-")) {
            for (Class<?> c : Main.class.getAnnotation(Command.class).subcommands()) {
                Command sub = c.getAnnotation(Command.class);
                if (sub.name().equals(args[0]) || java.util.Arrays.asList(sub.aliases()).contains(args[0])) {
                    CommandLine one = new CommandLine(new Root());
                    one.addSubcommand(c);
                    return handled(one);
                }
            }
        }
        return commandLine();
    }

    /** The root of a one-command tree: the same name, version and help options as {@link Main}. */
    @Command(name = "shadowcopy", mixinStandardHelpOptions = true, version = "shadowcopy 0.1.0",
            description = "Volume shadow copies and live image backups for Linux.")
    static final class Root implements Runnable {
        @Override
        public void run() {
            CommandLine.usage(new Main(), System.out);
        }
    }

    private static CommandLine handled(CommandLine cl) {
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
