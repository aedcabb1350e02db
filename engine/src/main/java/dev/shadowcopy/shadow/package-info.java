/** Identities and engine-level properties of shadow copies. */
package dev.shadowcopy.shadow;
