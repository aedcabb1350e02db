/**
 * The contracts every block device and every provider engine keeps, and nothing else: {@link
 * dev.shadowcopy.device.BlockDevice} (what NBD exports and backups read), {@link dev.shadowcopy.device.VolumeEngine}
 * (how a managed volume keeps live data and shadow copies: one implementation per provider), what an engine is
 * opened with ({@link dev.shadowcopy.device.EngineFiles}, {@link dev.shadowcopy.device.EngineOptions}), what it tells
 * its owner ({@link dev.shadowcopy.device.VolumeEvents}), and the exceptions at that boundary.
 *
 * <p>A leaf: it depends on {@code platform} and {@code shadow} only, so that {@code volume} (the front), the
 * providers and the overlays can all depend on it without depending on each other.
 */
package dev.shadowcopy.device;
