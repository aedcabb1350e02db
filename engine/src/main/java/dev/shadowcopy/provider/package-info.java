/**
 * The providers of this build, by layout ({@link dev.shadowcopy.provider.Providers}): the one place that knows them
 * all. Each provider is a package below ({@code cow}, {@code row}, {@code mirror}, {@code reflink}) on the kernel in
 * {@code store}; docs/engine.md says where a new one goes.
 */
package dev.shadowcopy.provider;
