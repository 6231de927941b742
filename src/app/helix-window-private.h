/* helix-window-private.h: what helix-window*.c share, and test accessors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-chat-controller.h"
#include "helix-core.h"
#include "helix-window.h"

G_BEGIN_DECLS

struct _HelixWindow
{
  AdwApplicationWindow  parent_instance;

  HelixStore           *store;
  HelixRouter          *router;
  GSettings            *settings;
  GCancellable         *cancellable;

  /* Sidebar: the sessions, or the results of a search */
  HelixSessionList     *session_list;
  GtkSingleSelection   *session_selection;
  GListModel           *search_results;
  GCancellable         *search_cancellable;
  char                 *search_query;
  char                 *restore_session_id;

  /* Content: the open session (or a draft when session is NULL and drafting is set) */
  HelixSession         *session;
  HelixMessageList     *message_list;
  GListModel           *message_model;  /* the stored messages, then the answers on their way */
  gulong                message_list_changed_handler;

  /* Answers: asks the router and stores what it says */
  HelixChatController  *chat;
  char                 *deleted_open_session_id;

  guint                 scroll_tick_id;
  guint                 scroll_stable_frames;
  double                scroll_last_target;
  guint                 loaded_idle_id;
  double                last_scroll_value;
  gint64                user_scroll_time;

  guint                 selection_guard;
  guint                 drafting : 1;
  guint                 sending : 1;
  guint                 stick_to_bottom : 1;
  guint                 auto_scrolling : 1;
  guint                 has_preedit : 1;
  guint                 pointer_on_scrollbar : 1;
  guint                 notice_dismissed : 1;

  /* Template children */
  AdwToastOverlay      *toast_overlay;
  AdwLeaflet           *leaflet;
  GtkSearchBar         *search_bar;
  GtkSearchEntry       *search_entry;
  GtkStack             *sidebar_stack;
  GtkSpinner           *sidebar_spinner;
  HelixSyncStatus      *sync_status;
  GtkListView          *session_list_view;
  AdwWindowTitle       *window_title;
  GtkMenuButton        *session_menu_button;
  GtkStack             *content_stack;
  GtkStack             *messages_stack;
  GtkScrolledWindow    *message_scroller;
  GtkListView          *message_list_view;
  GtkRevealer          *scroll_down_revealer;
  GtkRevealer          *notice_revealer;
  GtkTextView          *composer_view;
  GtkLabel             *composer_placeholder;
  GtkButton            *send_button;
};

/* helix-window-sidebar.c */
void            _helix_window_class_sidebar_init      (HelixWindowClass *klass);
void            _helix_window_sidebar_init            (HelixWindow      *self);
void            _helix_window_sidebar_constructed     (HelixWindow      *self);
void            _helix_window_sidebar_dispose         (HelixWindow      *self);
void            _helix_window_sync_selection          (HelixWindow      *self);

/* helix-window-chat.c */
void            _helix_window_chat_init               (HelixWindow      *self);
void            _helix_window_set_message_list        (HelixWindow      *self,
                                                       HelixMessageList *message_list);
void            _helix_window_update_header           (HelixWindow      *self);
void            _helix_window_update_session_menu     (HelixWindow      *self);
void            _helix_window_update_content_page     (HelixWindow      *self);
void            _helix_window_scroll_to_bottom        (HelixWindow      *self);
void            _helix_window_update_last_rows        (HelixWindow      *self);
void            _helix_window_ask                     (HelixWindow      *self,
                                                       const char       *session_id,
                                                       guint64           upto);

/* helix-window.c */
HelixSession   *_helix_window_find_session            (HelixWindow      *self,
                                                       const char       *session_id);
void            _helix_window_open_session            (HelixWindow      *self,
                                                       HelixSession     *session,
                                                       gboolean          user_initiated);
void            _helix_window_close_session           (HelixWindow      *self);
void            _helix_window_start_draft             (HelixWindow      *self);
void            _helix_window_show_error              (HelixWindow      *self,
                                                       const GError     *error);
char           *_helix_window_title_from_message      (const char       *text);
void            _helix_window_notify_session_model    (HelixWindow      *self);

/* helix-window-actions.c */
void            _helix_window_class_actions_init      (HelixWindowClass *klass);
void            _helix_window_actions_init            (HelixWindow      *self);
void            _helix_window_update_actions          (HelixWindow      *self);
void            _helix_window_set_session_model       (HelixWindow      *self,
                                                       const char       *model);

/* For tests */
GtkTextBuffer  *_helix_window_get_composer_buffer     (HelixWindow      *self);
GtkListView    *_helix_window_get_message_list_view   (HelixWindow      *self);
GtkListView    *_helix_window_get_session_list_view   (HelixWindow      *self);
GtkEditable    *_helix_window_get_search_entry        (HelixWindow      *self);
GListModel     *_helix_window_get_session_list        (HelixWindow      *self);
GListModel     *_helix_window_get_search_results      (HelixWindow      *self);
HelixSession   *_helix_window_get_session             (HelixWindow      *self);
HelixChatController *_helix_window_get_chat_controller (HelixWindow     *self);
GtkButton      *_helix_window_get_send_button         (HelixWindow      *self);

G_END_DECLS
