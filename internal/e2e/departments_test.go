package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

// TestDepartmentsPage manages departments on the admin page: create one
// (a name with markup stays text), edit its name, strategy, fallback and
// members, a duplicate name is refused in the server's words, delete it;
// each step is checked in the store.
func TestDepartmentsPage(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "boss@shop.test", "Wang Fang", models.RoleAdmin, agentPassword)
	li := srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	zhao := srv.CreateAgent(t, "zhao@shop.test", "Zhao Lei", models.RoleAgent, agentPassword)
	ctx := context.Background()
	b := NewBrowser(t)
	admin := b.NewPage(t, "admin")
	admin.ConsoleLogin(srv.URL, "boss@shop.test", agentPassword)
	admin.Do("opening the admin page", chromedp.Click(chromedp.ID("tab-admin")))
	box := func(id string) string { return `document.querySelector('#dept-members input[value="` + id + `"]')` }
	admin.Wait("the member boxes and an empty list", box(li.ID)+` !== null && `+box(zhao.ID)+` !== null && !document.getElementById('depts-empty').hidden`,
		`document.getElementById('dept-members').textContent`)
	list := `document.getElementById('depts').textContent`
	errText := `document.getElementById('dept-error').textContent`
	stored := func() []*models.Department {
		t.Helper()
		ds, err := srv.Store.Departments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}

	const name = `Returns <img src=x onerror="document.title='pwned'">`
	admin.Do("filling the form",
		chromedp.SetValue(chromedp.ID("dept-name"), name),
		chromedp.SetValue(chromedp.ID("dept-strategy"), "round-robin"),
		chromedp.SetValue(chromedp.ID("dept-fallback"), "120"),
	)
	admin.ClickJS("ticking Li Na", box(li.ID))
	admin.Do("creating", chromedp.Click(chromedp.ID("dept-save")))
	admin.Wait("the department listed", list+`.includes('Round robin') && `+list+`.includes('Li Na') && `+list+`.includes('2 min')`, list+` + ' / ' + `+errText)
	if Eval[bool](admin, `document.querySelector('#depts img') !== null || document.title === 'pwned'`) {
		t.Fatal("a department name became HTML")
	}
	if got := Eval[string](admin, `document.querySelector('#depts .dept-name').textContent`); got != name {
		t.Errorf("name shown %q, want %q", got, name)
	}
	ds := stored()
	if len(ds) != 1 || ds[0].Name != name || ds[0].Strategy != models.StrategyRoundRobin || ds[0].FallbackAfter != 2*time.Minute ||
		len(ds[0].Members) != 1 || ds[0].Members[0] != li.ID {
		t.Fatalf("stored %+v; want the department as typed", ds[0])
	}
	id := ds[0].ID
	admin.Wait("the department in the business hours menu", `[...document.querySelectorAll('#hours-scope option')].some(o => o.value === '`+id+`')`)

	admin.ClickJS("editing it", `document.querySelector('#depts button[data-act=edit][data-id="`+id+`"]')`)
	admin.Wait("the form holding it", `document.getElementById('dept-name').value === `+jsString(name)+` && `+box(li.ID)+`.checked`)
	admin.Do("changing everything",
		chromedp.SetValue(chromedp.ID("dept-name"), "Returns & refunds"),
		chromedp.SetValue(chromedp.ID("dept-strategy"), "manual"),
		chromedp.SetValue(chromedp.ID("dept-fallback"), "0"),
	)
	admin.ClickJS("unticking Li Na", box(li.ID))
	admin.ClickJS("ticking Zhao Lei", box(zhao.ID))
	admin.Do("saving", chromedp.Click(chromedp.ID("dept-save")))
	admin.Wait("the changed department listed", list+`.includes('Returns & refunds') && `+list+`.includes('Manual') && `+list+`.includes('Zhao Lei') && !`+list+`.includes('Li Na')`, list+` + ' / ' + `+errText)
	ds = stored()
	if len(ds) != 1 || ds[0].Name != "Returns & refunds" || ds[0].Strategy != models.StrategyManual || ds[0].FallbackAfter != 0 ||
		len(ds[0].Members) != 1 || ds[0].Members[0] != zhao.ID {
		t.Fatalf("stored after edit %+v", ds[0])
	}

	admin.Do("a second department with the same name",
		chromedp.SetValue(chromedp.ID("dept-name"), "RETURNS & REFUNDS"),
		chromedp.Click(chromedp.ID("dept-save")),
	)
	admin.Wait("the server's refusal", errText+`.includes('exists')`, errText)
	if n := len(stored()); n != 1 {
		t.Errorf("%d departments after a refused duplicate; want 1", n)
	}

	Eval[bool](admin, `window.confirm = () => true, true`)
	admin.ClickJS("deleting it", `document.querySelector('#depts button[data-act=delete][data-id="`+id+`"]')`)
	admin.Wait("the empty list", `!document.getElementById('depts-empty').hidden && document.querySelector('#depts tr') === null`, list)
	if n := len(stored()); n != 0 {
		t.Errorf("%d departments after delete; want 0", n)
	}
}
