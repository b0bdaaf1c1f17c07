module github.com/synack-net/synack

go 1.26
