package dev.shadowcopy.service.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link Volumes}: creating and deleting volumes, what a set's provider must serve, incomplete volumes. */
class VolumesTest extends ServiceFixture {
    @Test
    void aCreatedVolumeIsListedAndItsCreationIsAnEvent() throws Exception {
        assertEquals(List.of("a", "b"), service.volumes().list().stream().map(v -> v.name()).sorted().toList());
        assertTrue(logged("volume-created"));
    }

    @Test
    void deletingAVolumeDropsTheRecordsOfItsCopies() throws Exception {
        copy("a", null);
        service.volumes().delete("a", true);
        assertTrue(service.volumes().find("a").isEmpty());
        assertTrue(service.shadows().list().isEmpty());
    }

    @Test
    void aVolumeWithAProtectedCopyIsNotDeletedEvenByForce() throws Exception {
        copy("a", Instant.now().plusSeconds(3600));
        var e = assertThrows(ServiceException.class, () -> service.volumes().delete("a", true));
        assertEquals(VssError.PROTECTED, e.error());
        assertTrue(service.volumes().find("a").isPresent());
    }

    @Test
    void anIncompleteVolumeIsRefusedForAttachNamingWhy() throws Exception {
        service.volumes().get("a").markIncomplete("a restore was cut short; run it again");
        var e = assertThrows(ServiceException.class, () -> service.volumes().attach("a", false));
        assertEquals(VssError.BAD_STATE, e.error());
        assertTrue(e.getMessage().contains("run it again"), e.getMessage());
    }

    @Test
    void detachingAVolumeThatIsNotAttachedIsNotFound() {
        assertEquals(VssError.OBJECT_NOT_FOUND, assertThrows(ServiceException.class,
                () -> service.volumes().detach("a", false)).error());
    }

    @Test
    void aSetMayNameOnlyAProviderThatServesEachOfItsVolumes() throws Exception {
        service.volumes().checkProvider(null, List.of("a"));
        service.volumes().checkProvider("shadowcopy-software", List.of("a", "b"));
        assertEquals(VssError.VOLUME_NOT_SUPPORTED_BY_PROVIDER, assertThrows(ServiceException.class,
                () -> service.volumes().checkProvider("shadowcopy-reflink", List.of("a"))).error());
        assertEquals(VssError.PROVIDER_NOT_REGISTERED, assertThrows(ServiceException.class,
                () -> service.volumes().checkProvider("nobody", List.of("a"))).error());
    }

    @Test
    void shadowStorageCanGrowAndTheChangeIsAnEvent() throws Exception {
        service.volumes().resizeShadowStorage("a", dev.shadowcopy.volume.ShadowStorageLimit.ofBytes(4L << 20));
        assertEquals(dev.shadowcopy.volume.ShadowStorageLimit.ofBytes(4L << 20),
                service.volumes().get("a").config().shadowStorage());
        assertTrue(logged("shadowstorage-resized"));
    }
}
