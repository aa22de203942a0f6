package memstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
)

// BenchmarkTenThousandShoppers: 10,000 shoppers say hello (create, look up
// by token) and send two messages each. With the token and open-conversation
// indexes this is linear; it used to scan every row on each call (~7 s).
func BenchmarkTenThousandShoppers(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		s := memstore.New()
		for j := range 10000 {
			hash := fmt.Sprintf("%064x", j)
			if err := s.CreateVisitor(ctx, &models.Visitor{TokenHash: hash}); err != nil {
				b.Fatal(err)
			}
			v, err := s.VisitorByTokenHash(ctx, hash)
			if err != nil {
				b.Fatal(err)
			}
			for k := range 2 {
				if _, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: fmt.Sprint(k), Body: "hi"}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
