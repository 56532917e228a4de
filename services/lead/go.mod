module github.com/crmsuite/crm/services/lead

go 1.26
