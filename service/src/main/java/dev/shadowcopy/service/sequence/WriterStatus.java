package dev.shadowcopy.service.sequence;

import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterState;

/** One writer's state in a session (VSS's GatherWriterStatus entry): state and last failure are independent. */
public record WriterStatus(String name, String kind, WriterState state, WriterFailure failure, String message) {
    public WriterStatus with(WriterState newState, WriterFailure newFailure, String newMessage) {
        return new WriterStatus(name, kind, newState, newFailure, newMessage);
    }
}
