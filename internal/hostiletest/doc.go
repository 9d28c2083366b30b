// Package hostiletest holds the end-to-end tests of what a node may write
// (docs/sync.md "Who may write what"): a real server on a loopback port, real
// clients, and a node that sends the server uploads of its own making, as
// a stolen laptop or a modified client would, built with the project's dx
// writer and sent with syncproto. It has no code outside its tests.
package hostiletest
