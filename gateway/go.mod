module github.com/crmsuite/crm/gateway

go 1.26
