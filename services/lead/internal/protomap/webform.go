package protomap

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// WebFormName is the resource name of a web form.
func WebFormName(id uuid.UUID) string { return resname.Format("webForms", id) }

// WebForm returns the API form of f, which never carries the key.
func WebForm(f *domain.WebForm) *leadv1.WebForm {
	p := &leadv1.WebForm{
		Name: WebFormName(f.ID), DisplayName: f.DisplayName, Campaign: f.Campaign, DefaultOwner: f.DefaultOwner,
		AllowedOrigins: f.AllowedOrigins, RedirectUri: f.RedirectURI, KeyPrefix: f.KeyPrefix, DefaultRating: rating(f.DefaultRating),
		CreateTime: timestamppb.New(f.CreatedAt), CreatedBy: f.CreatedBy, RevokedBy: f.RevokedBy,
	}
	if f.RevokedAt != nil {
		p.RevokeTime = timestamppb.New(*f.RevokedAt)
	}
	return p
}

// WebFormFromProto returns the domain form of the settable fields of p.
func WebFormFromProto(p *leadv1.WebForm) domain.WebForm {
	return domain.WebForm{
		DisplayName: p.GetDisplayName(), Campaign: p.GetCampaign(), DefaultOwner: p.GetDefaultOwner(),
		AllowedOrigins: p.GetAllowedOrigins(), RedirectURI: p.GetRedirectUri(),
		DefaultRating: domain.Rating(protoenum.Name(p.GetDefaultRating().String(), "RATING_")),
	}
}

// WebFormEntry returns the visitor's fields of a submission.
func WebFormEntry(p *leadv1.SubmitWebFormRequest) domain.WebFormEntry {
	e := domain.WebFormEntry{
		FirstName: p.GetFirstName(), LastName: p.GetLastName(), Company: p.GetCompany(), Title: p.GetTitle(),
		Email: p.GetEmail(), Phone: p.GetPhone(), Website: p.GetWebsite(), Message: p.GetMessage(),
		CustomFields: p.GetCustomFields(), Products: p.GetProductsOfInterest(),
	}
	if a := p.GetAddress(); a != nil {
		e.Address = domain.Address{
			Lines: a.GetAddressLines(), Locality: a.GetLocality(), AdministrativeArea: a.GetAdministrativeArea(),
			PostalCode: a.GetPostalCode(), RegionCode: a.GetRegionCode(),
		}
	}
	return e
}
