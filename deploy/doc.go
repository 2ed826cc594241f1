// Package deploy holds the container image and compose file for a shared
// Jupyter Kernel Gateway; its test checks the compose file's settings.
package deploy
