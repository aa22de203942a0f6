package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/app"
	"github.com/kefu-chat/kefu/models"
)

// agentCommand manages agents directly in the database, which works while
// a server runs on the same data folder: the server notices revocations
// within KEFU_REVALIDATE_EVERY.
func agentCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "Usage: kefu agent add|list|disable|set-password [flags]  (kefu agent add --help for flags)")
		return errors.New("agent: a subcommand is required")
	}
	sub, args := args[0], args[1:]
	cfg := config.Default()
	if err := cfg.ApplyEnv(os.Getenv); err != nil {
		return err
	}
	fs := cfg.FlagSet("kefu agent " + sub)
	email := fs.String("email", "", "the agent's e-mail address")
	var name, role *string
	var maxChats *int
	switch sub {
	case "add":
		name = fs.String("name", "", "the agent's name as shoppers see it")
		role = fs.String("role", "agent", "agent or admin")
		maxChats = fs.Int("max-chats", 0, "cap on concurrent conversations (0: the server's default)")
		usage(fs, stderr, "kefu agent add --email E --name N [--role agent|admin] [--max-chats N]  (password from stdin, or generated)")
	case "list":
		usage(fs, stderr, "kefu agent list")
	case "disable":
		usage(fs, stderr, "kefu agent disable --email E")
	case "set-password":
		usage(fs, stderr, "kefu agent set-password --email E  (password from stdin, or generated)")
	default:
		return fmt.Errorf("agent: unknown subcommand %q (add, list, disable, set-password)", sub)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Finish()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if sub != "list" && strings.TrimSpace(*email) == "" {
		return errors.New("--email is required")
	}
	ctx := context.Background()
	store, err := app.OpenStore(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer store.Close()

	switch sub {
	case "add":
		if strings.TrimSpace(*name) == "" {
			return errors.New("--name is required")
		}
		password, generated, err := readPassword(stdin)
		if err != nil {
			return err
		}
		hash, err := auth.HashPassword(password)
		if err != nil {
			return err
		}
		a := &models.Agent{Email: *email, Name: strings.TrimSpace(*name), Role: models.Role(*role), MaxChats: *maxChats, PasswordHash: hash}
		if err := store.CreateAgent(ctx, a); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s %s (%s)\n", a.Role, a.Email, a.ID)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", password)
		}
	case "list":
		agents, err := store.Agents(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "EMAIL\tNAME\tROLE\tMAX CHATS\tOPEN\tSTATE")
		for _, a := range agents {
			state := "active"
			if a.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\n", a.Email, a.Name, a.Role, a.MaxChats, a.OpenChats, state)
		}
		return w.Flush()
	case "disable":
		a, err := store.AgentByEmail(ctx, *email)
		if err != nil {
			return err
		}
		yes := true
		if _, err := store.UpdateAgent(ctx, a.ID, models.AgentUpdate{Disabled: &yes}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "disabled %s; their open sessions end within %s\n", a.Email, cfg.RevalidateEvery)
	case "set-password":
		a, err := store.AgentByEmail(ctx, *email)
		if err != nil {
			return err
		}
		password, generated, err := readPassword(stdin)
		if err != nil {
			return err
		}
		hash, err := auth.HashPassword(password)
		if err != nil {
			return err
		}
		if _, err := store.UpdateAgent(ctx, a.ID, models.AgentUpdate{PasswordHash: &hash}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "set the password of %s; their other sessions end within %s\n", a.Email, cfg.RevalidateEvery)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", password)
		}
	}
	return nil
}

// readPassword reads one line from stdin when stdin is a pipe or file with
// something in it; otherwise (a terminal, or nothing) it generates one.
func readPassword(stdin io.Reader) (password string, generated bool, err error) {
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice != 0 {
			return auth.GeneratePassword(), true, nil
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return auth.GeneratePassword(), true, nil
	}
	return line, false, nil
}
