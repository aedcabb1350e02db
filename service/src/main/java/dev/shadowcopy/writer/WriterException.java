package dev.shadowcopy.writer;

/** A writer's refusal or failure to handle an event, with the VSS kind of failure. */
public class WriterException extends Exception {
    private final WriterFailure failure;

    public WriterException(WriterFailure failure, String message) {
        super(message);
        this.failure = failure == WriterFailure.NONE ? WriterFailure.NONRETRYABLE : failure;
    }

    public WriterFailure failure() {
        return failure;
    }
}
