package dev.shadowcopy.attach;

import dev.shadowcopy.attach.keep.HolderStore;
import dev.shadowcopy.volume.FileDevice;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A service stand-in that {@link AttacherRestartTest} kills: opens an {@link Attacher} on a state directory
 * (descriptors in a holder), takes over what an earlier run left, attaches {@code disk.img} as {@code volume/v}
 * if it is not attached yet, prints {@code READY <loop device>} and waits to be killed.
 *
 * <p>Arguments: state directory.
 */
public final class AttachChild {
    public static void main(String[] args) throws Exception {
        Path state = Path.of(args[0]);
        Path image = state.resolve("disk.img");
        FileDevice device = Files.exists(image) ? FileDevice.open(image, false) : FileDevice.create(image, 64L << 20);
        Attacher a = new Attacher(state, new HolderStore(state.resolve("holder.sock"), state.resolve("holder.log")));
        for (Attacher.Outcome o : a.start(k -> k.equals("volume/v") ? device : null, p -> false)) {
            System.out.println("OUTCOME " + o.kind() + " " + o.message());
        }
        Attachment at = a.find("volume/v").isPresent() ? a.find("volume/v").get() : a.attach("volume/v", device, false);
        System.out.println("READY " + at.loopDevice());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
